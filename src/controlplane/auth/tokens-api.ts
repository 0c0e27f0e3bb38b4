import { randomBytes } from "node:crypto";
import { HttpError } from "../../common/errors.ts";
import { parseDuration } from "../../config/duration.ts";
import { type HttpRequest, json, jsonBody, type RouteModule } from "../http/router.ts";
import type { ControlNode } from "../node.ts";
import { kvView } from "../state/machine.ts";
import { isRole, ROLES, type Role } from "./roles.ts";
import { type AuthCommand, TOKEN_NAME, TOKENS_PREFIX, type TokenRecord, type TokenView, tokenView } from "./store.ts";
import { generateToken, hashToken } from "./token.ts";

/** The longest --ttl: a token that outlives its purpose by years is a leaked one waiting to happen. */
const MAX_TTL_MS = 10 * 365 * 24 * 3600 * 1000;
const SERVICE_NAME = /^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$/;
const KEY_PREFIX = /^[A-Za-z0-9._/-]{0,256}$/;

/** What POST /v1/tokens answers: the token itself, the one time it is ever shown. */
export interface CreatedToken extends TokenView {
  token: string;
  revision: number;
}

export interface TokenListResponse {
  items: TokenView[];
}

function text(body: Record<string, unknown>, name: string): string | undefined {
  const v = body[name];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== "string") throw new HttpError(400, "ERR_BAD_REQUEST", `${name}: expected a string`);
  return v;
}

/** The request for a new token, checked: the role's binding (service, prefix) present exactly where it belongs. */
export function tokenRequest(raw: unknown, now: number): Omit<TokenRecord, "hash"> {
  if (raw === null || typeof raw !== "object" || Array.isArray(raw))
    throw new HttpError(400, "ERR_BAD_REQUEST", "body must be a JSON object");
  const body = raw as Record<string, unknown>;
  const name = text(body, "name") ?? "";
  if (!TOKEN_NAME.test(name))
    throw new HttpError(
      400,
      "ERR_BAD_REQUEST",
      "name: expected 1-63 characters of a-z 0-9 . _ -, starting with a letter or digit",
    );
  const role = text(body, "role") ?? "";
  if (!isRole(role)) throw new HttpError(400, "ERR_BAD_REQUEST", `role: expected one of ${ROLES.join(", ")}`);
  const service = text(body, "service");
  const prefix = text(body, "prefix");
  checkBinding(role, service, prefix);
  const record: Omit<TokenRecord, "hash"> = { name, role, createdAt: now };
  if (service !== undefined) record.service = service;
  if (prefix !== undefined) record.prefix = prefix;
  const ttl = text(body, "ttl");
  if (ttl !== undefined) {
    const ms = parseDuration(ttl);
    if (ms === undefined || ms <= 0 || ms > MAX_TTL_MS)
      throw new HttpError(
        400,
        "ERR_BAD_REQUEST",
        `ttl: expected a duration like 24h or 30m, at most 10 years, got "${ttl}"`,
      );
    record.expiresAt = now + ms;
  }
  return record;
}

function checkBinding(role: Role, service: string | undefined, prefix: string | undefined): void {
  if (role === "sidecar" && (service === undefined || !SERVICE_NAME.test(service)))
    throw new HttpError(400, "ERR_BAD_REQUEST", "service: a sidecar token needs the service it acts for (--service)");
  if (role !== "sidecar" && service !== undefined)
    throw new HttpError(400, "ERR_BAD_REQUEST", "service: only a sidecar token is bound to a service");
  if (role === "config-writer" && (prefix === undefined || !KEY_PREFIX.test(prefix)))
    throw new HttpError(
      400,
      "ERR_BAD_REQUEST",
      "prefix: a config-writer token needs the key prefix it may write (--prefix)",
    );
  if (role !== "config-writer" && prefix !== undefined)
    throw new HttpError(400, "ERR_BAD_REQUEST", "prefix: only a config-writer token is bound to a key prefix");
}

function nameParam(req: HttpRequest): string {
  const name = req.params.name ?? "";
  if (!TOKEN_NAME.test(name)) throw new HttpError(400, "ERR_BAD_REQUEST", "not a token name");
  return name;
}

/**
 * POST /v1/tokens, GET /v1/tokens, DELETE /v1/tokens/{name} (admin only, auth/http-access.ts). The token is made
 * from this node's random source and only its hash is proposed; the answer is the only place it ever appears.
 */
export function tokensApi(random: (bytes: number) => Buffer = randomBytes): RouteModule {
  return (router, node: ControlNode) => {
    router.route("POST", "/v1/tokens", async (req) => {
      const partial = tokenRequest(jsonBody(req), Date.now());
      const token = generateToken(random);
      const record: TokenRecord = { ...partial, hash: hashToken(token) };
      const command: AuthCommand = { type: "auth.token.create", token: record };
      const { revision } = await node.propose(command, { deadlineMs: req.remainingMs() });
      return json(201, { ...tokenView(record), token, revision } satisfies CreatedToken);
    });
    router.route("GET", "/v1/tokens", async (req) => {
      const items = await node.read(
        (kv) =>
          kvView(kv)
            .range(TOKENS_PREFIX)
            .map((e) => tokenView(JSON.parse(e.value) as TokenRecord)),
        { consistency: "linearizable", deadlineMs: req.remainingMs() },
      );
      return json(200, { items } satisfies TokenListResponse);
    });
    router.route("DELETE", "/v1/tokens/{name}", async (req) => {
      const command: AuthCommand = { type: "auth.token.revoke", name: nameParam(req), at: Date.now() };
      const { revision, result } = await node.propose<{ revoked: boolean }>(command, { deadlineMs: req.remainingMs() });
      await replicated(node, revision, req.deadline);
      return json(200, { revision, revoked: result.revoked });
    });
  };
}

/**
 * Waits (within the request's deadline) until every voter holds the entry, so a revoke that returned is applied
 * on each member at its next heartbeat at the latest, not whenever a lagging one catches up.
 */
async function replicated(node: ControlNode, revision: number, deadline: number): Promise<void> {
  const members = (node as ControlNode & { members?: () => { role: string; matchIndex: number }[] }).members;
  if (members === undefined || !node.isLeader()) return;
  while (Date.now() < deadline - 50) {
    if (members.call(node).every((m) => m.role !== "voter" || m.matchIndex >= revision)) return;
    await new Promise((r) => setTimeout(r, 10));
  }
}
