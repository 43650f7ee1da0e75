// Types of vendor/jose.js (built from the pinned jose by scripts/build_jose.mjs): jose's own.
export { SignJWT, jwtVerify, errors } from "jose";
