import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { errorCode, errorMessage } from "../../common/errors.ts";
import type { Logger } from "../../common/logger.ts";
import type { ControlNode } from "../node.ts";
import type { AuthCommand, TokenRecord } from "./store.ts";
import { generateToken, hashToken, TOKEN_LENGTH } from "./token.ts";

export const ADMIN_TOKEN_FILE = "admin-token";
const RETRY_MS = 200;

/** `<data-dir>/admin-token`, written once with mode 0600 (through a temporary file, so it is whole or absent). */
export function adminTokenPath(dataDir: string): string {
  return path.join(dataDir, ADMIN_TOKEN_FILE);
}

/**
 * The admin token of a founding node: made and written on the first start of a new cluster, read back on every
 * later start. undefined for a node that joined an existing cluster (it has no token of its own).
 */
export function ensureAdminTokenFile(dataDir: string, newCluster: boolean, random = randomBytes): string | undefined {
  const file = adminTokenPath(dataDir);
  if (fs.existsSync(file)) {
    const token = fs.readFileSync(file, "utf8").trim();
    return token.length === TOKEN_LENGTH ? token : undefined;
  }
  if (!newCluster) return undefined;
  const token = generateToken(random);
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, `${token}\n`, { mode: 0o600 });
  fs.chmodSync(tmp, 0o600);
  fs.renameSync(tmp, file);
  return token;
}

/**
 * Proposes the founding node's admin token (named `admin-<node id>`) until a leader orders it, if the cluster
 * never had one by that name: a revoked bootstrap token stays revoked across restarts. Resolves with whether it
 * was created now; stops trying when `stopped()` says so.
 */
export async function proposeAdminToken(
  node: ControlNode,
  token: string,
  logger: Logger,
  stopped: () => boolean,
): Promise<boolean> {
  const record: TokenRecord = {
    name: `admin-${node.id}`.toLowerCase(),
    role: "admin",
    hash: hashToken(token),
    createdAt: Date.now(),
  };
  const command: AuthCommand = { type: "auth.token.create", token: record, ifAbsent: true };
  while (!stopped()) {
    try {
      const { result } = await node.propose<{ created: boolean }>(command, { deadlineMs: 5_000 });
      return result.created;
    } catch (err) {
      const code = errorCode(err);
      if (code !== "ERR_NO_LEADER" && code !== "ERR_TIMEOUT") {
        logger.error({ code, err: errorMessage(err) }, "the admin token could not be stored");
        return false;
      }
      await new Promise((r) => setTimeout(r, RETRY_MS));
    }
  }
  return false;
}
