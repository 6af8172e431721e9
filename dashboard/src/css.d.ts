// Stylesheets are bundled by esbuild; importing one yields nothing to TypeScript.
declare module "*.css";

// Swagger UI's prebuilt bundle (UMD, no types of its own): one function taking its options.
declare module "swagger-ui-dist/swagger-ui-bundle.js" {
  const SwaggerUIBundle: (options: Record<string, unknown>) => unknown;
  export default SwaggerUIBundle;
}
