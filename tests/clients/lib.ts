// Shared helpers of the real-client harnesses (run with Bun by
// tests/integration/clients_test.go). Nothing here is client code: the
// clients are imported at run time from the extracted monorepo tarball.
//
// Output protocol: one JSON object per line on stdout,
//   {"client":"shared-auth","call":"signIn","ok":true,"detail":"..."}
// and nothing else on stdout (the clients' own console output goes to stderr).

export const rawFetch: typeof fetch = globalThis.fetch.bind(globalThis);

// The clients log freely (console.log on success paths, console.debug in the
// token manager); keep stdout for result lines only.
for (const k of ['log', 'info', 'debug', 'warn'] as const) {
	(console as any)[k] = (...args: unknown[]) => console.error(`[${k}]`, ...args);
}

export function env(name: string, def?: string): string {
	const v = process.env[name];
	if (v && v.trim() !== '') return v.trim().replace(/\/+$/, '');
	if (def !== undefined) return def;
	throw new Error(`environment variable ${name} is required`);
}

/** Reporter prints one line per call and remembers what was reported. */
export class Reporter {
	readonly seen = new Set<string>();
	constructor(readonly client: string) {}

	report(call: string, ok: boolean, detail: string): void {
		if (this.seen.has(call)) throw new Error(`harness bug: ${this.client}/${call} reported twice`);
		this.seen.add(call);
		const line = JSON.stringify({ client: this.client, call, ok, detail: oneLine(detail) });
		process.stdout.write(line + '\n');
	}

	/**
	 * Runs one call: fn returns [ok, detail]; an exception or the timeout is
	 * reported as ok:false. It never throws.
	 */
	async call(call: string, fn: () => Promise<[boolean, string]>, timeoutMs = 25_000): Promise<boolean> {
		let timer: ReturnType<typeof setTimeout> | undefined;
		try {
			const [ok, detail] = await Promise.race([
				fn(),
				new Promise<never>((_, reject) => {
					timer = setTimeout(() => reject(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
				}),
			]);
			this.report(call, ok, detail);
			return ok;
		} catch (e) {
			this.report(call, false, `threw: ${errText(e)}`);
			return false;
		} finally {
			if (timer) clearTimeout(timer);
		}
	}

	skip(call: string, why: string): void {
		this.report(call, false, `skipped: ${why}`);
	}
}

export function oneLine(s: string, max = 600): string {
	const t = redact(String(s)).replace(/\s+/g, ' ').trim();
	return t.length > max ? t.slice(0, max) + '…' : t;
}

/** Hides credentials in details: JWTs, token= query values and token fields of JSON. */
export function redact(s: string): string {
	return s
		.replace(/eyJ[\w-]{6,}(\.[\w-]*){0,2}/g, '<jwt>')
		.replace(/([?&](?:token|code)=)[^&\s"'<>]+/gi, '$1<token>')
		.replace(/("(?:token|accessToken|refreshToken|sessionToken|secret|totpURI)"\s*:\s*")[^"]*/g, '$1<redacted>');
}

export function errText(e: unknown): string {
	if (e instanceof Error) return `${e.name}: ${e.message}`;
	return String(e);
}

export function short(v: unknown, max = 160): string {
	let s: string;
	try {
		s = typeof v === 'string' ? v : JSON.stringify(v);
	} catch {
		s = String(v);
	}
	if (s === undefined) s = 'undefined';
	return oneLine(s, max);
}

export function sleep(ms: number): Promise<void> {
	return new Promise((r) => setTimeout(r, ms));
}

/** Polls fn until it returns a non-undefined value or the deadline passes. */
export async function poll<T>(what: string, timeoutMs: number, fn: () => Promise<T | undefined>): Promise<T> {
	const deadline = Date.now() + timeoutMs;
	let last: unknown;
	for (;;) {
		try {
			const v = await fn();
			if (v !== undefined) return v;
		} catch (e) {
			last = e;
		}
		if (Date.now() > deadline) {
			throw new Error(`${what}: nothing within ${timeoutMs} ms${last ? ` (last error ${errText(last)})` : ''}`);
		}
		await sleep(150);
	}
}

export function uniqueTag(): string {
	return `${Date.now()}-${Math.floor(Math.random() * 1e9)}`;
}

// ---------------------------------------------------------------------------
// JWT helpers (decode only; nothing is verified here)

export function b64urlDecode(s: string): string {
	const b64 = s.replace(/-/g, '+').replace(/_/g, '/');
	return Buffer.from(b64 + '='.repeat((4 - (b64.length % 4)) % 4), 'base64').toString('utf8');
}

export function b64urlEncode(s: string): string {
	return Buffer.from(s, 'utf8').toString('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

export function jwtPayload(token: unknown): Record<string, any> | null {
	if (typeof token !== 'string') return null;
	const parts = token.split('.');
	if (parts.length !== 3) return null;
	try {
		return JSON.parse(b64urlDecode(parts[1]));
	} catch {
		return null;
	}
}

export function isJWT(token: unknown): boolean {
	return jwtPayload(token) !== null;
}

/** The same token with its payload changed (the signature no longer matches). */
export function withPayload(token: string, patch: Record<string, unknown>): string {
	const [h, p, s] = token.split('.');
	const payload = { ...JSON.parse(b64urlDecode(p)), ...patch };
	return `${h}.${b64urlEncode(JSON.stringify(payload))}.${s}`;
}

// ---------------------------------------------------------------------------
// Mailpit

export interface Mail {
	id: string;
	subject: string;
	html: string;
	text: string;
}

export class Mailbox {
	private readonly seen = new Set<string>();
	constructor(readonly mailpitURL: string) {}

	private async ids(to: string): Promise<{ id: string; subject: string }[]> {
		const q = new URLSearchParams({ query: `to:"${to}"` });
		const r = await rawFetch(`${this.mailpitURL}/api/v1/search?${q}`);
		if (!r.ok) throw new Error(`mailpit search: HTTP ${r.status}`);
		const j: any = await r.json();
		return (j.messages || []).map((m: any) => ({ id: String(m.ID), subject: String(m.Subject ?? '') }));
	}

	async read(id: string): Promise<Mail> {
		const r = await rawFetch(`${this.mailpitURL}/api/v1/message/${encodeURIComponent(id)}`);
		if (!r.ok) throw new Error(`mailpit message ${id}: HTTP ${r.status}`);
		const j: any = await r.json();
		return { id, subject: String(j.Subject ?? ''), html: String(j.HTML ?? ''), text: String(j.Text ?? '') };
	}

	/** Number of messages Mailpit holds for a recipient. */
	async count(to: string): Promise<number> {
		return (await this.ids(to)).length;
	}

	/**
	 * Waits for a message to `to`, not returned before, whose body matches re;
	 * returns the message and the match (HTML entities in it decoded).
	 */
	async waitFor(to: string, re: RegExp, timeoutMs = 15_000): Promise<{ mail: Mail; match: string }> {
		return poll(`mail to ${to} matching ${re}`, timeoutMs, async () => {
			for (const m of await this.ids(to)) {
				if (this.seen.has(m.id)) continue;
				const mail = await this.read(m.id);
				const found = re.exec(mail.html) || re.exec(mail.text);
				if (found) {
					this.seen.add(m.id);
					return { mail, match: decodeEntities(found[0]) };
				}
			}
			return undefined;
		});
	}

	/** Waits for any message to `to` whose subject or body contains needle. */
	async waitForText(to: string, needle: string, timeoutMs = 15_000): Promise<Mail> {
		return poll(`mail to ${to} containing ${needle}`, timeoutMs, async () => {
			for (const m of await this.ids(to)) {
				if (this.seen.has(m.id)) continue;
				const mail = await this.read(m.id);
				if (mail.subject.includes(needle) || mail.html.includes(needle) || mail.text.includes(needle)) {
					this.seen.add(m.id);
					return mail;
				}
			}
			return undefined;
		});
	}
}

export function decodeEntities(s: string): string {
	return s
		.replace(/&amp;/g, '&')
		.replace(/&#0*38;/g, '&')
		.replace(/&#x0*26;/gi, '&')
		.replace(/&quot;/g, '"')
		.replace(/&#0*39;/g, "'")
		.replace(/&lt;/g, '<')
		.replace(/&gt;/g, '>');
}
