import { render } from "preact";
import "./app.css";

const root = document.getElementById("app");
if (root) render(<main><h1>convio</h1></main>, root);
