/** @param {unknown} value @returns {value is string} */
export function isSubject(value: unknown): value is string;
export const SUBJECT_PATTERN: RegExp;
