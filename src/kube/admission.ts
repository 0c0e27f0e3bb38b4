import { errorMessage } from "../common/errors.ts";
import { mutateDocument } from "./mutate.ts";
import { InjectError, type InjectOptions } from "./pod-injection.ts";
import { isObject, type Json } from "./workloads.ts";

/**
 * The mutating admission webhook's decision for one AdmissionReview (admission.k8s.io/v1), as data: the HTTP
 * status and body to send. A request that is not a review at all gets a 400 with a plain JSON error (the API
 * server then applies the webhook's failurePolicy); a review gets a review back, allowed with a JSON Patch,
 * allowed as is, or denied with the reason.
 */
export type ReviewResult = "injected" | "skipped" | "ignored" | "denied" | "invalid";

export interface ReviewAnswer {
  status: number;
  body: Json;
  result: ReviewResult;
}

const API_VERSION = "admission.k8s.io/v1";

function invalid(message: string): ReviewAnswer {
  return { status: 400, body: { error: { code: "ERR_BAD_REVIEW", message } }, result: "invalid" };
}

function answer(uid: string, response: Record<string, Json>, result: ReviewResult): ReviewAnswer {
  return {
    status: 200,
    body: { apiVersion: API_VERSION, kind: "AdmissionReview", response: { uid, ...response } },
    result,
  };
}

export function review(raw: string, options: InjectOptions): ReviewAnswer {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (err) {
    return invalid(`the body is not JSON: ${errorMessage(err)}`);
  }
  if (!isObject(parsed)) return invalid("expected an AdmissionReview object");
  if (parsed.apiVersion !== API_VERSION || parsed.kind !== "AdmissionReview")
    return invalid(`expected apiVersion ${API_VERSION}, kind AdmissionReview`);
  const request = parsed.request;
  if (!isObject(request)) return invalid("the AdmissionReview has no request");
  const uid = request.uid;
  if (typeof uid !== "string" || uid === "") return invalid("request.uid must be a non-empty string");
  const kind = isObject(request.kind) ? request.kind : {};
  const isPodCreate =
    kind.kind === "Pod" &&
    (kind.group ?? "") === "" &&
    request.operation === "CREATE" &&
    (request.subResource ?? "") === "";
  if (!isPodCreate) return answer(uid, { allowed: true }, "ignored");
  if (!isObject(request.object)) return deny(uid, "request.object must be the Pod");
  try {
    const r = mutateDocument({ ...request.object, kind: "Pod" }, { action: "inject", options });
    if (r.ops.length === 0) return answer(uid, { allowed: true, warnings: r.notes.map(warning) }, "skipped");
    const patch = Buffer.from(JSON.stringify(r.ops)).toString("base64");
    return answer(uid, { allowed: true, patchType: "JSONPatch", patch }, "injected");
  } catch (err) {
    if (err instanceof InjectError) return deny(uid, `meshlet injection: ${err.message}`);
    throw err;
  }
}

/** Notes say "Pod/name: skipped, reason"; a warning is shown to kubectl users as is. */
const warning = (note: string) => `meshlet: ${note}`;

function deny(uid: string, message: string): ReviewAnswer {
  return answer(uid, { allowed: false, status: { code: 400, message } }, "denied");
}
