import type { StateMachine } from "../state/machine.ts";
import { AUTH_COMMAND_TYPES, type AuthCommand, applyAuthCommand } from "./store.ts";
import { tokensApi } from "./tokens-api.ts";

/**
 * Control-plane access inside `meshlet control`: the token commands of the state machine and the token API.
 * The checks themselves (Gatekeeper) wrap the HTTP router and the gRPC services in run.ts. Shaped as a
 * ControlExtension (extensions.ts).
 */
export function authExtension() {
  return {
    name: "auth",
    register(sm: StateMachine) {
      for (const type of AUTH_COMMAND_TYPES) {
        sm.register(type, (command, { kv }) => {
          const { ops, result } = applyAuthCommand(kv.view(), command as unknown as AuthCommand);
          kv.applyOps(ops);
          return result;
        });
      }
    },
    start: () => [tokensApi()],
    stop: () => {},
  };
}
