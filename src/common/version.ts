/** meshlet's release, as package.json says (a test keeps them equal): the CLI's and every server's `version`. */
export const MESHLET_VERSION = "0.1.0";
