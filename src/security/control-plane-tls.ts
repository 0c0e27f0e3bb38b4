import { createSecureContext } from "node:tls";
import { TlsChannelCredentials } from "../common/grpc-tls.ts";
import { nodeNameOf } from "./node-name.ts";

/**
 * gRPC credentials for a client of the control plane (a sidecar, `meshlet demo`): TLS verified against the mesh
 * CA (`--ca-file`), and the server must present a control-plane node certificate issued under it, so a sidecar's
 * workload certificate from the same CA cannot pose as the control plane.
 */
export function controlPlaneCredentials(caPem: Buffer | string): TlsChannelCredentials {
  const secureContext = createSecureContext({ ca: caPem, minVersion: "TLSv1.2" });
  return new TlsChannelCredentials(
    () => ({ secureContext }),
    (socket) => {
      if (!socket.authorized)
        return `the control plane's certificate is not trusted by --ca-file: ${String(socket.authorizationError)}`;
      const cert = socket.getPeerX509Certificate();
      return cert !== undefined && nodeNameOf(cert) !== undefined
        ? undefined
        : "the server's certificate is not a control-plane node certificate";
    },
  );
}
