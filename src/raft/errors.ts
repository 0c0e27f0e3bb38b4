import { MeshletError } from "../common/errors.ts";
import type { NodeId } from "./types.ts";

/** A proposal reached a node that is not the leader; `leader` is "" when unknown. */
export class NotLeaderError extends MeshletError {
  readonly leader: NodeId | "";

  constructor(leader: NodeId | "") {
    super("ERR_NOT_LEADER", leader === "" ? "no leader is known" : `not the leader; the leader is ${leader}`);
    this.name = "NotLeaderError";
    this.leader = leader;
  }
}

/** The leader cannot take the proposal now (e.g. a leadership transfer is under way). */
export class ProposalDroppedError extends MeshletError {
  constructor(reason: string) {
    super("ERR_PROPOSAL_DROPPED", `proposal dropped: ${reason}`);
    this.name = "ProposalDroppedError";
  }
}

export class ConfChangeInvalidError extends MeshletError {
  constructor(reason: string) {
    super("ERR_CONF_CHANGE_INVALID", `invalid membership change: ${reason}`);
    this.name = "ConfChangeInvalidError";
  }
}

/** Single-server changes are safe only one at a time: the previous one must be applied first. */
export class ConfChangeInProgressError extends MeshletError {
  constructor() {
    super("ERR_CONF_CHANGE_IN_PROGRESS", "a membership change is still in progress");
    this.name = "ConfChangeInProgressError";
  }
}

export class RemoveLastVoterError extends MeshletError {
  constructor(id: NodeId) {
    super("ERR_REMOVE_LAST_VOTER", `refusing to remove ${id}: it is the last voter`);
    this.name = "RemoveLastVoterError";
  }
}

export class SnapshotOutOfDateError extends MeshletError {
  constructor(index: number, current: number) {
    super("ERR_SNAPSHOT_OUT_OF_DATE", `snapshot at ${index} is not newer than the current one at ${current}`);
    this.name = "SnapshotOutOfDateError";
  }
}

/** The requested log index was dropped by compaction. */
export class CompactedError extends MeshletError {
  constructor(index: number) {
    super("ERR_COMPACTED", `log index ${index} is compacted`);
    this.name = "CompactedError";
  }
}

/** The requested log index is not (yet) in the log. */
export class UnavailableError extends MeshletError {
  constructor(index: number) {
    super("ERR_UNAVAILABLE", `log index ${index} is not available`);
    this.name = "UnavailableError";
  }
}

export class BootstrapError extends MeshletError {
  constructor(reason: string) {
    super("ERR_BOOTSTRAP", `cannot bootstrap: ${reason}`);
    this.name = "BootstrapError";
  }
}
