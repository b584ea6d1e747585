// The JSON API with the bearer token from sessionStorage (this tab only, gone when it closes).

const TOKEN_KEY = "hospitation.token";

export function getToken() {
  return sessionStorage.getItem(TOKEN_KEY);
}

export function setToken(token) {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function clearToken() {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** An API error: HTTP status and the server's German message. */
export class ApiError extends Error {
  constructor(status, detail, errors, total) {
    super(detail);
    this.status = status;
    this.errors = errors || [];
    this.total = total || this.errors.length;
  }
}

async function send(path, { method = "GET", body, token = getToken() } = {}) {
  const headers = { Accept: "application/json" };
  if (token) headers.Authorization = `Bearer ${token}`;
  const form = body instanceof FormData; // files: the browser sets the multipart boundary
  if (body !== undefined && !form) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined || form ? body : JSON.stringify(body),
      cache: "no-store",
    });
  } catch {
    throw new ApiError(0, "Der Server ist nicht erreichbar.");
  }
  if (!response.ok) {
    let detail = `Fehler ${response.status}`;
    let errors = [];
    let total = 0;
    try {
      const data = await response.json();
      detail = data.detail || detail;
      errors = data.errors || [];
      total = data.total || 0;
    } catch {
      // not JSON: keep the status line
    }
    throw new ApiError(response.status, detail, errors, total);
  }
  return response;
}

/** JSON of a request (null for an empty body). */
export async function api(path, options) {
  const response = await send(path, options);
  const text = await response.text();
  return text ? JSON.parse(text) : null;
}

/**
 * Fetch a file with the token and hand it to the browser as a download
 * (a plain link cannot send the Authorization header).
 */
export async function download(path, fallbackName) {
  const response = await send(path, { method: "GET" });
  const blob = await response.blob();
  const disposition = response.headers.get("Content-Disposition") || "";
  const match = /filename="?([^";]+)"?/.exec(disposition);
  return saveBlob(blob, match ? match[1] : fallbackName);
}

/** Hand a blob made in the page (e.g. a CSV of invitations) to the browser as a download. */
export function saveBlob(blob, name) {
  const link = document.createElement("a");
  link.href = URL.createObjectURL(blob);
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  return link.download;
}

/** The error text for a failed call, with the field messages of input errors. */
export function describe(error) {
  if (!(error instanceof ApiError)) return String(error && error.message ? error.message : error);
  const fields = error.errors
    .map((e) => [e.field, e.message].filter(Boolean).join(": "))
    .filter(Boolean);
  return fields.length ? `${error.message} (${fields.join("; ")})` : error.message;
}
