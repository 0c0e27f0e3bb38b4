/**
 * Membership changes, one server at a time (Ongaro's thesis §4.1).
 *
 * Why single-server changes rather than joint consensus: any two majorities of
 * configurations that differ by one voter overlap, so no intermediate joint
 * configuration is needed, and every operator action (add, promote, remove)
 * is naturally one step. The cost is that changes must be serialised: a leader
 * accepts a new change only after the previous one is applied and after it has
 * committed an entry of its own term (the fix for the bug Ongaro described on
 * raft-dev in 2015), which the leader's no-op gives us.
 */
import { ConfChangeInvalidError, RemoveLastVoterError } from "./errors.ts";
import type { ConfChange, ConfState } from "./types.ts";
import { ConfChangeType } from "./types.ts";

const TYPES = new Set<string>(Object.values(ConfChangeType));

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

function toHex(b: Uint8Array): string {
  let s = "";
  for (const x of b) s += x.toString(16).padStart(2, "0");
  return s;
}

function fromHex(s: string): Uint8Array {
  if (s.length % 2 !== 0 || !/^[0-9a-f]*$/.test(s)) throw new ConfChangeInvalidError("context is not hex");
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(s.slice(i * 2, i * 2 + 2), 16);
  return out;
}

export function encodeConfChange(cc: ConfChange): Uint8Array {
  const obj: { type: string; nodeId: string; context?: string } = { type: cc.type, nodeId: cc.nodeId };
  if (cc.context !== undefined) obj.context = toHex(cc.context);
  return encoder.encode(JSON.stringify(obj));
}

/** Throws ConfChangeInvalidError on anything but a well-formed change. */
export function decodeConfChange(data: Uint8Array): ConfChange {
  let v: unknown;
  try {
    v = JSON.parse(decoder.decode(data));
  } catch {
    throw new ConfChangeInvalidError("not a JSON-encoded conf change");
  }
  if (v === null || typeof v !== "object") throw new ConfChangeInvalidError("not an object");
  const o = v as Record<string, unknown>;
  const cc: ConfChange = { type: "addVoter", nodeId: "" };
  if (typeof o.type !== "string" || !TYPES.has(o.type)) throw new ConfChangeInvalidError("unknown type");
  cc.type = o.type as ConfChangeType;
  if (typeof o.nodeId !== "string") throw new ConfChangeInvalidError("nodeId is not a string");
  cc.nodeId = o.nodeId;
  if (o.context !== undefined) {
    if (typeof o.context !== "string") throw new ConfChangeInvalidError("context is not a string");
    cc.context = fromHex(o.context);
  }
  validateConfChange(cc);
  return cc;
}

export function validateConfChange(cc: ConfChange): void {
  if (typeof cc !== "object" || cc === null) throw new ConfChangeInvalidError("not an object");
  if (!TYPES.has(cc.type)) throw new ConfChangeInvalidError(`unknown type ${String(cc.type)}`);
  if (typeof cc.nodeId !== "string" || cc.nodeId === "") throw new ConfChangeInvalidError("nodeId is empty");
  if (cc.context !== undefined && !(cc.context instanceof Uint8Array))
    throw new ConfChangeInvalidError("context is not bytes");
}

/**
 * The configuration after cc. Throws when cc is malformed, a no-op
 * (adding a present voter, removing an absent node) or would leave no voter.
 */
export function applyToConfState(cs: ConfState, cc: ConfChange): ConfState {
  validateConfChange(cc);
  const isVoter = cs.voters.includes(cc.nodeId);
  const isLearner = cs.learners.includes(cc.nodeId);
  const voters = cs.voters.filter((id) => id !== cc.nodeId);
  const learners = cs.learners.filter((id) => id !== cc.nodeId);
  switch (cc.type) {
    case "addVoter":
      if (isVoter) throw new ConfChangeInvalidError(`${cc.nodeId} is already a voter`);
      voters.push(cc.nodeId);
      break;
    case "addLearner":
      if (isLearner) throw new ConfChangeInvalidError(`${cc.nodeId} is already a learner`);
      learners.push(cc.nodeId);
      break;
    case "removeNode":
      if (!isVoter && !isLearner) throw new ConfChangeInvalidError(`${cc.nodeId} is not a member`);
      break;
  }
  if (voters.length === 0) throw new RemoveLastVoterError(cc.nodeId);
  return { voters, learners };
}
