import {
  type ChannelCredentials,
  credentials,
  type ServiceDefinition,
  type UntypedServiceImplementation,
} from "@grpc/grpc-js";
import type { Registry } from "prom-client";
import { type Clock, systemClock } from "../../common/clock.ts";
import { compareStrings } from "../../common/compare.ts";
import type { Logger } from "../../common/logger.ts";
import { discoveryProto } from "../../config/discovery-proto.ts";
import type { DiscoveryClient } from "../../gen/meshlet/discovery/v1/Discovery.ts";
import { ConfigFeed } from "../config/feed.ts";
import type { ControlNode } from "../node.ts";
import type { LeaseRecord, RegistryCommand } from "../registry/commands.ts";
import { LeaseExpiryLoop } from "../registry/expiry.ts";
import { LeaseKeeper } from "../registry/lease-keeper.ts";
import { RenewForwarder } from "../registry/renew-forwarder.ts";
import type { NodeView, SidecarView } from "../resources/api-types.ts";
import { LEASES_PREFIX } from "../resources/keys.ts";
import { type Command, kvView } from "../state/machine.ts";
import { storedText } from "../state/value.ts";
import { attachDiscovery } from "./attach.ts";
import type { RegistrationAddressMode } from "./caller-address.ts";
import { createMeshStateReader } from "./mesh-state.ts";
import { type CertificateIssuer, DiscoveryServer, type MeshSource } from "./server.ts";

export interface DiscoveryStartOptions {
  /** Adds a service to the node's gRPC server (the one serving the Raft peers). */
  addService: (service: ServiceDefinition, implementation: UntypedServiceImplementation) => void;
  logger: Logger;
  registry: Registry;
  /** gRPC address of a node by id, to forward lease renewals to the leader; undefined = unknown. */
  grpcAddressOf: (nodeId: string) => string | undefined;
  /** Every member's id and gRPC address, to gather the cluster's sidecars for GET /v1/sidecars. */
  members: () => { id: string; address: string }[];
  debounceMs?: number;
  /** The mesh CA, when this node issues sidecar certificates. */
  certificates?: CertificateIssuer;
  /** Which addresses sidecars may register (meshlet control --registration-address; default peer). */
  registrationAddress?: RegistrationAddressMode;
  clock?: Clock;
  proposeDeadlineMs?: number;
  /**
   * How to dial node `nodeId` for RenewLeases and ListSidecars: its certificate must name it (default plain:
   * --insecure, unit tests).
   */
  peerCredentials?: (nodeId: string) => ChannelCredentials;
}

export interface DiscoveryRuntime {
  server: DiscoveryServer;
  stop(): void;
}

/**
 * How long GET /v1/sidecars waits for another node's list before naming it
 * unreachable. The nodes are asked at once, so a frozen or dead node costs
 * this once, never once per node; a live node answers from memory in a few ms.
 */
const LIST_DEADLINE_MS = 500;

/**
 * Runs the mesh side of a control-plane node: the Discovery service on the
 * node's gRPC server, and, while this node leads, the lease keeper and its
 * expiry loop. Call once the node's state machine is set up (with
 * registerMeshCommands) and before it starts serving.
 */
export function startDiscovery(node: ControlNode, options: DiscoveryStartOptions): DiscoveryRuntime {
  const clock = options.clock ?? systemClock;
  const log = options.logger.child({ subsystem: "mesh-registry" });
  const deadlineMs = options.proposeDeadlineMs ?? 5_000;
  const keeper = new LeaseKeeper(clock);
  const propose = async (command: RegistryCommand) => {
    const { revision } = await node.propose(command as unknown as Command, { deadlineMs });
    return { revision };
  };
  const expiry = new LeaseExpiryLoop({ clock, keeper, logger: log, propose });
  const peers = new Map<string, DiscoveryClient>();
  // One client per member and address: the credentials check the answering certificate names that member.
  const peer = (nodeId: string, address: string): DiscoveryClient => {
    const key = `${nodeId}@${address}`;
    let client = peers.get(key);
    if (client === undefined) {
      const Client = discoveryProto().meshlet.discovery.v1.Discovery;
      client = new Client(address, options.peerCredentials?.(nodeId) ?? credentials.createInsecure());
      peers.set(key, client);
    }
    return client;
  };
  const forwarder = new RenewForwarder(clock, async (leaseIds) => {
    const leader = node.leader();
    const address = leader === "" ? undefined : options.grpcAddressOf(leader);
    if (address === undefined) return { leader: false, unknown: [] };
    const c = peer(leader, address);
    return new Promise((resolve, reject) => {
      c.RenewLeases({ leaseIds }, { deadline: Date.now() + deadlineMs }, (err, res) =>
        err || res === undefined ? reject(err) : resolve({ leader: res.leader, unknown: res.unknown }),
      );
    });
  });

  const leases = (): LeaseRecord[] =>
    node.kv.range(LEASES_PREFIX).map((e) => JSON.parse(storedText(e.record.value)) as LeaseRecord);
  const onLeadership = () => {
    if (node.isLeader() && !keeper.leading) {
      keeper.takeOver(leases());
      expiry.start();
      log.info({ leases: leases().length }, "leading: every lease extended by one TTL");
    } else if (!node.isLeader() && keeper.leading) {
      keeper.stepDown();
      expiry.stop();
    }
  };
  const leaseWatch = node.kv.watch(LEASES_PREFIX, node.kv.revision, (e) => {
    const id = e.key.slice(LEASES_PREFIX.length);
    if (e.type === "delete") keeper.removed(id);
    else keeper.granted(id, (JSON.parse(storedText(e.value)) as LeaseRecord).ttlMs);
  });

  let meshChanged = false;
  const meshWatch = node.kv.watch(
    "mesh/",
    node.kv.revision,
    () => {
      meshChanged = true;
    },
    // A snapshot replaced the state (a follower that fell behind): its changes came without events.
    () => {
      meshChanged = true;
    },
  );
  const config = new ConfigFeed(
    node.kv,
    (listener) => node.on("applied", listener),
    () => node.read((kv) => kv.revision, { consistency: "linearizable", deadlineMs }),
  );
  const listeners = new Set<() => void>();
  const readState = createMeshStateReader();
  const source: MeshSource = {
    nodeId: node.id,
    state: () => readState(kvView(node.kv), node.kv.revision),
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    propose,
    renew: (leaseId) => (node.isLeader() ? Promise.resolve(keeper.renew(leaseId)) : forwarder.renew(leaseId)),
    describe: () => {
      const { commit, applied } = node.raftStatus();
      return { id: node.id, leader: node.leader(), term: node.term, commitIndex: commit, appliedIndex: applied };
    },
    renewLocal: (leaseIds) => ({
      leader: node.isLeader(),
      unknown: node.isLeader() ? leaseIds.filter((id) => !keeper.renew(id)) : [],
    }),
  };
  // One notification per applied batch, not per KV event: an apply of a thousand resources is one push.
  const offApplied = node.on("applied", () => {
    if (!meshChanged) return;
    meshChanged = false;
    for (const l of listeners) l();
  });
  const offLeader = node.on("leaderChange", onLeadership);
  const server = new DiscoveryServer(source, {
    clock,
    logger: options.logger,
    registry: options.registry,
    ...(options.debounceMs === undefined ? {} : { debounceMs: options.debounceMs }),
    config,
    ...(options.certificates === undefined ? {} : { certificates: options.certificates }),
    ...(options.registrationAddress === undefined ? {} : { registrationAddress: options.registrationAddress }),
  });
  options.addService(discoveryProto().meshlet.discovery.v1.Discovery.service, server.handlers());
  attachDiscovery(node, {
    sidecars: async (configKey) => {
      const others = options.members().filter((m) => m.id !== node.id && m.address !== "");
      const lists = await Promise.all(
        others.map(
          (m) =>
            new Promise<{ sidecars: SidecarView[]; node: NodeView | undefined } | undefined>((resolve) => {
              const req = { configKey: configKey ?? "" };
              peer(m.id, m.address).ListSidecars(req, { deadline: Date.now() + LIST_DEADLINE_MS }, (err, res) => {
                if (err || res === undefined) return resolve(undefined);
                try {
                  const sidecars = JSON.parse(res.json) as SidecarView[];
                  // A node of an older version sends no view of its own.
                  const node = res.node === "" ? undefined : (JSON.parse(res.node) as NodeView);
                  resolve({ sidecars, node });
                } catch {
                  resolve(undefined);
                }
              });
            }),
        ),
      );
      const sidecars = server.sidecars(configKey);
      const nodes: NodeView[] = [source.describe()];
      const unreachable: string[] = [];
      lists.forEach((list, i) => {
        if (list === undefined) unreachable.push(others[i]?.id ?? "");
        else {
          sidecars.push(...list.sidecars);
          if (list.node !== undefined) nodes.push(list.node);
        }
      });
      sidecars.sort((a, b) => (a.node === b.node ? compareStrings(a.id, b.id) : compareStrings(a.node, b.node)));
      return { sidecars, unreachable, nodes };
    },
  });
  onLeadership();

  return {
    server,
    stop() {
      offApplied();
      offLeader();
      leaseWatch.cancel();
      meshWatch.cancel();
      config.close();
      expiry.stop();
      forwarder.stop();
      server.close();
      for (const c of peers.values()) c.close();
    },
  };
}
