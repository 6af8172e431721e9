// The REST API's reference at /docs: Swagger UI over the server's own /openapi.json, bundled
// here so nothing is loaded from another host. The online validator badge is off (it would
// send the document to swagger.io), and "Try it out" sends requests to this server only, with
// the credentials typed into "Authorize", which Swagger UI keeps in the page's memory.
import SwaggerUIBundle from "swagger-ui-dist/swagger-ui-bundle.js";
import "swagger-ui-dist/swagger-ui.css";
import "./page.css";

SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#docs",
  validatorUrl: null,
  deepLinking: true,
  persistAuthorization: false,
  defaultModelsExpandDepth: 0,
  docExpansion: "list",
  tryItOutEnabled: false,
});
