// The grammar of a token subject (and of a login client id): lowercase ASCII letters and
// digits, then up to 63 of those or `.`, `_`, `-`. Nothing that renders differently from what
// it is (no NUL, no U+202E right-to-left override, no spaces or newlines at either end), and
// short enough to log. A full match: `$` without the `m` flag ends the input, and the class
// is ASCII (no `i`, no `u` flag). components/secrets_store/schemas.py holds the same pattern
// (tests/test_login_clients.py checks that the two agree).

export const SUBJECT_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;

/** @param {unknown} value @returns {value is string} */
export function isSubject(value) {
  return typeof value === "string" && SUBJECT_PATTERN.test(value);
}
