//! The dashboard at /dashboard (plan §4), rendered with Preact.
import { render } from "preact";
import { App } from "./App";
import "./app.css";

const root = document.getElementById("app");
if (root) render(<App />, root);
