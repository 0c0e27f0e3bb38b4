/**
 * A process started with an IPC channel (as `meshlet demo` starts its control plane and sidecars) stops
 * when its parent is gone, however the parent ended: the channel closes then. Nothing changes otherwise.
 */
export function stopWithParent(stop: () => void): void {
  if (process.channel === undefined) return;
  process.channel.unref();
  process.once("disconnect", stop);
}
