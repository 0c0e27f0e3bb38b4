/**
 * The V8 flags of every Node process a bench starts (sidecars, bare forwarders, the old engine), so no path
 * runs with a heap the others do not get. BENCH_NODE_FLAGS replaces them for a run that compares settings.
 */
export const NODE_FLAGS = process.env.BENCH_NODE_FLAGS ?? "--max-semi-space-size=8";
