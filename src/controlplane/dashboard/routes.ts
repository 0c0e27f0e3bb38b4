import { readFile } from "node:fs/promises";
import { HttpError } from "../../common/errors.ts";
import { json, type RouteModule } from "../http/router.ts";
import type { LiveSource } from "./live.ts";

/** The page's files, served from the package's dashboard/ folder (no build step, nothing from a CDN). */
const ASSETS = new URL("../../../dashboard/", import.meta.url);
const FILES: Record<string, string> = {
  "index.html": "text/html; charset=utf-8",
  "app.js": "text/javascript; charset=utf-8",
  "style.css": "text/css; charset=utf-8",
};

/** GET / (the page), GET /dashboard/{file} (its script and style), GET /v1/dashboard (the view as JSON). */
export function dashboardRoutes(source: LiveSource): RouteModule {
  const cache = new Map<string, Buffer>();
  const file = async (name: string) => {
    const type = FILES[name];
    if (type === undefined) throw new HttpError(404, "ERR_NOT_FOUND", `no dashboard file ${name}`);
    let body = cache.get(name);
    if (body === undefined) {
      body = await readFile(new URL(name, ASSETS));
      cache.set(name, body);
    }
    return { status: 200, headers: { "content-type": type, "cache-control": "no-cache" }, body };
  };
  return (router) => {
    router.route("GET", "/", () => file("index.html"));
    router.route("GET", "/dashboard/{file}", (req) => file(req.params.file ?? ""));
    router.route("GET", "/v1/dashboard", async () => json(200, await source.view()));
  };
}
