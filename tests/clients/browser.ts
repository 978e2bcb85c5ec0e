// A fetch that behaves, towards one server origin, like a browser tab of the
// web app at APP_ORIGIN (http://localhost:5173) calling it cross-origin:
//
//  * a cookie jar (RFC 6265 subset): Set-Cookie is stored and Cookie sent only
//    for credentials: 'include' (the default 'same-origin' neither sends nor
//    stores cookies on a cross-origin request); Max-Age<=0 / past Expires
//    delete; default-path, Path, Domain, Secure (allowed on localhost) and
//    SameSite=None-needs-Secure rules are applied;
//  * Origin: APP_ORIGIN on every request (a cross-origin fetch always sends
//    it) and a browser User-Agent;
//  * CORS as a browser enforces it (BROWSER_CORS=0 turns this off): a preflight
//    OPTIONS for non-simple requests, and the response is refused (TypeError
//    "Failed to fetch", as in a browser) unless Access-Control-Allow-Origin
//    matches, plus Access-Control-Allow-Credentials: true for credentials:
//    'include';
//  * navigate(url): a top-level navigation (clicking a link in a mail): no
//    Origin, cookies always sent and stored, redirects not followed.
//
// Every request is recorded in `log` so a harness can say which HTTP calls a
// client method made and what they answered.

import { rawFetch, short } from './lib';

export interface Exchange {
	method: string;
	path: string;
	status: number; // 0 when refused before/without a response
	credentials: string;
	sentCookies: string[];
	setCookies: string[]; // "name" stored, "-name" deleted, "!name (why)" rejected
	cors?: string; // why a browser would refuse it
	body: string; // first 300 characters of the answer
	json?: unknown;
}

interface Cookie {
	name: string;
	value: string;
	domain: string;
	hostOnly: boolean;
	path: string;
	expires?: number;
	secure: boolean;
}

const SAFELISTED_CT = ['application/x-www-form-urlencoded', 'multipart/form-data', 'text/plain'];
const SAFELISTED_HEADERS = new Set(['accept', 'accept-language', 'content-language', 'content-type']);

export class Browser {
	readonly log: Exchange[] = [];
	private cookies: Cookie[] = [];
	readonly serverOrigin: string;
	readonly enforceCORS: boolean;
	readonly userAgent =
		'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36 ManaClientHarness/1.0';

	constructor(
		serverURL: string,
		readonly appOrigin: string,
		enforceCORS = true
	) {
		this.serverOrigin = new URL(serverURL).origin;
		this.enforceCORS = enforceCORS;
	}

	/** The fetch to install as globalThis.fetch. */
	get fetch(): typeof fetch {
		return ((input: RequestInfo | URL, init?: RequestInit) => this.doFetch(input, init)) as typeof fetch;
	}

	/** Requests recorded since mark (an index into log), as one short line. */
	since(mark: number): string {
		return this.log
			.slice(mark)
			.map((e) => {
				let s = `${e.method} ${e.path} → ${e.status || 'refused'}`;
				if (e.cors) s += ` [CORS: ${e.cors}]`;
				if (e.setCookies.length) s += ` [Set-Cookie: ${e.setCookies.join(', ')}]`;
				if (e.status >= 400 || e.status === 0) s += ` ${short(e.body, 140)}`;
				return s;
			})
			.join('; ');
	}

	/** The last exchange of method+path (path without query) since mark. */
	find(mark: number, method: string, path: string): Exchange | undefined {
		const hits = this.log.slice(mark).filter((e) => e.method === method && e.path.split('?')[0] === path);
		return hits[hits.length - 1];
	}

	cookieNames(): string[] {
		this.expire();
		return this.cookies.map((c) => c.name);
	}

	/** Forget every cookie (a different browser). */
	clearCookies(): void {
		this.cookies = [];
	}

	/** A top-level GET navigation without following redirects. */
	async navigate(url: string): Promise<Response> {
		const u = new URL(url);
		const headers = new Headers({ 'User-Agent': this.userAgent, Accept: 'text/html,*/*' });
		const cookie = this.cookieHeader(u);
		if (cookie) headers.set('Cookie', cookie);
		const ex: Exchange = this.exchange('GET', u, 'navigate', cookie);
		const res = await rawFetch(u, { method: 'GET', headers, redirect: 'manual' });
		await this.record(ex, res, u, true);
		return res;
	}

	private exchange(method: string, u: URL, credentials: string, cookie: string): Exchange {
		const ex: Exchange = {
			method,
			path: u.pathname + u.search,
			status: 0,
			credentials,
			sentCookies: cookie ? cookie.split('; ').map((c) => c.split('=')[0]) : [],
			setCookies: [],
			body: '',
		};
		this.log.push(ex);
		return ex;
	}

	private async doFetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response> {
		const req = input instanceof Request ? input : undefined;
		const u = new URL(req ? req.url : input instanceof URL ? input.href : String(input));
		if (u.origin !== this.serverOrigin) return rawFetch(input, init);

		const method = (init?.method || req?.method || 'GET').toUpperCase();
		const credentials = init?.credentials || req?.credentials || 'same-origin';
		const withCookies = credentials === 'include'; // cross-origin: 'same-origin' sends none
		const headers = new Headers(init?.headers || req?.headers || undefined);
		headers.set('Origin', this.appOrigin);
		headers.set('User-Agent', this.userAgent);
		headers.delete('Cookie');
		const cookie = withCookies ? this.cookieHeader(u) : '';
		if (cookie) headers.set('Cookie', cookie);

		const ex = this.exchange(method, u, credentials, cookie);

		if (this.enforceCORS) {
			const why = await this.preflight(u, method, headers, withCookies);
			if (why) {
				ex.cors = why;
				throw new TypeError(`Failed to fetch (CORS preflight: ${why})`);
			}
		}

		const res = await rawFetch(u, {
			method,
			headers,
			body: init?.body ?? (req ? await req.clone().arrayBuffer() : undefined),
			redirect: init?.redirect,
			signal: init?.signal ?? undefined,
		});
		await this.record(ex, res, u, withCookies);
		if (this.enforceCORS) {
			const why = this.corsRefusal(res.headers, withCookies);
			if (why) {
				ex.cors = why;
				throw new TypeError(`Failed to fetch (CORS: ${why})`);
			}
		}
		return res;
	}

	private async record(ex: Exchange, res: Response, u: URL, storeCookies: boolean): Promise<void> {
		ex.status = res.status;
		const sc = res.headers.getSetCookie ? res.headers.getSetCookie() : [];
		for (const line of sc) {
			ex.setCookies.push(storeCookies ? this.store(u, line) : `!${line.split('=')[0]} (ignored: credentials not 'include')`);
		}
		try {
			const text = await res.clone().text();
			ex.body = text.slice(0, 300);
			if (text.length < 1 << 16) {
				try {
					ex.json = JSON.parse(text);
				} catch {
					/* not JSON */
				}
			}
		} catch {
			/* unreadable body */
		}
	}

	/** Why a browser would refuse a response (undefined when it would not). */
	private corsRefusal(h: Headers, withCookies: boolean): string | undefined {
		const acao = h.get('Access-Control-Allow-Origin');
		if (!acao) return 'no Access-Control-Allow-Origin';
		if (acao === '*') {
			if (withCookies) return "Access-Control-Allow-Origin '*' with credentials";
		} else if (acao !== this.appOrigin) {
			return `Access-Control-Allow-Origin ${acao} != ${this.appOrigin}`;
		}
		if (withCookies && h.get('Access-Control-Allow-Credentials') !== 'true') {
			return 'credentials include without Access-Control-Allow-Credentials: true';
		}
		return undefined;
	}

	/** Sends the preflight a browser would send; returns why it fails, if it does. */
	private async preflight(u: URL, method: string, headers: Headers, withCookies: boolean): Promise<string | undefined> {
		const custom: string[] = [];
		headers.forEach((value, name) => {
			name = name.toLowerCase();
			if (name === 'origin' || name === 'user-agent' || name === 'cookie') return;
			if (!SAFELISTED_HEADERS.has(name)) custom.push(name);
			else if (name === 'content-type' && !SAFELISTED_CT.includes(value.split(';')[0].trim().toLowerCase())) {
				custom.push(name);
			}
		});
		const simpleMethod = ['GET', 'HEAD', 'POST'].includes(method);
		if (simpleMethod && custom.length === 0) return undefined;
		const pre = new Headers({
			Origin: this.appOrigin,
			'User-Agent': this.userAgent,
			'Access-Control-Request-Method': method,
		});
		if (custom.length) pre.set('Access-Control-Request-Headers', custom.sort().join(','));
		let res: Response;
		try {
			res = await rawFetch(u, { method: 'OPTIONS', headers: pre });
		} catch (e) {
			return `preflight failed: ${String(e)}`;
		}
		await res.arrayBuffer().catch(() => undefined);
		if (res.status < 200 || res.status > 299) return `preflight answered ${res.status}`;
		const why = this.corsRefusal(res.headers, withCookies);
		if (why) return `preflight: ${why}`;
		const allowM = (res.headers.get('Access-Control-Allow-Methods') || '').toUpperCase();
		const methods = allowM.split(',').map((s) => s.trim());
		if (!simpleMethod && !methods.includes(method) && !(methods.includes('*') && !withCookies)) {
			return `preflight: method ${method} not in Access-Control-Allow-Methods "${allowM}"`;
		}
		const allowH = (res.headers.get('Access-Control-Allow-Headers') || '').toLowerCase();
		const allowed = allowH.split(',').map((s) => s.trim());
		for (const name of custom) {
			if (!allowed.includes(name) && !(allowed.includes('*') && !withCookies && name !== 'authorization')) {
				return `preflight: header ${name} not in Access-Control-Allow-Headers "${allowH}"`;
			}
		}
		return undefined;
	}

	// ---- cookie jar --------------------------------------------------------

	private expire(): void {
		const now = Date.now();
		this.cookies = this.cookies.filter((c) => c.expires === undefined || c.expires > now);
	}

	private cookieHeader(u: URL): string {
		this.expire();
		const host = u.hostname.toLowerCase();
		const secureOK = u.protocol === 'https:' || isLocal(host);
		return this.cookies
			.filter((c) => (c.hostOnly ? c.domain === host : domainMatch(host, c.domain)))
			.filter((c) => pathMatch(u.pathname, c.path))
			.filter((c) => !c.secure || secureOK)
			.sort((a, b) => b.path.length - a.path.length)
			.map((c) => `${c.name}=${c.value}`)
			.join('; ');
	}

	/** Applies one Set-Cookie line; returns how it was taken for the log. */
	private store(u: URL, line: string): string {
		const [pair, ...attrs] = line.split(';');
		const eq = pair.indexOf('=');
		if (eq <= 0) return `!${pair.trim()} (no name)`;
		const name = pair.slice(0, eq).trim();
		const value = pair.slice(eq + 1).trim();
		const host = u.hostname.toLowerCase();
		const c: Cookie = { name, value, domain: host, hostOnly: true, path: defaultPath(u.pathname), secure: false };
		let maxAge: number | undefined;
		let sameSiteNone = false;
		for (const a of attrs) {
			const i = a.indexOf('=');
			const k = (i < 0 ? a : a.slice(0, i)).trim().toLowerCase();
			const v = i < 0 ? '' : a.slice(i + 1).trim();
			if (k === 'max-age') {
				const n = Number(v);
				if (Number.isFinite(n)) maxAge = n;
			} else if (k === 'expires') {
				const t = Date.parse(v);
				if (!Number.isNaN(t) && maxAge === undefined) c.expires = t;
			} else if (k === 'path') {
				c.path = v.startsWith('/') ? v : defaultPath(u.pathname);
			} else if (k === 'domain') {
				const d = v.replace(/^\./, '').toLowerCase();
				if (!domainMatch(host, d)) return `!${name} (Domain=${v} does not match ${host})`;
				c.domain = d;
				c.hostOnly = false;
			} else if (k === 'secure') {
				c.secure = true;
			} else if (k === 'samesite') {
				sameSiteNone = v.toLowerCase() === 'none';
			}
		}
		if (maxAge !== undefined) c.expires = Date.now() + maxAge * 1000;
		if (c.secure && !(u.protocol === 'https:' || isLocal(host))) return `!${name} (Secure over http)`;
		if (sameSiteNone && !c.secure) return `!${name} (SameSite=None without Secure)`;
		if (name.startsWith('__Secure-') && !c.secure) return `!${name} (__Secure- without Secure)`;
		if (name.startsWith('__Host-') && (!c.secure || !c.hostOnly || c.path !== '/')) return `!${name} (__Host- rules)`;
		this.cookies = this.cookies.filter((o) => !(o.name === c.name && o.domain === c.domain && o.path === c.path));
		if (c.expires !== undefined && c.expires <= Date.now()) return `-${name}`;
		this.cookies.push(c);
		return c.path === '/' ? name : `${name} (Path=${c.path})`;
	}
}

function isLocal(host: string): boolean {
	return host === 'localhost' || host.endsWith('.localhost') || host === '127.0.0.1' || host === '[::1]';
}

function domainMatch(host: string, domain: string): boolean {
	return host === domain || host.endsWith('.' + domain);
}

function defaultPath(p: string): string {
	if (!p.startsWith('/')) return '/';
	const i = p.lastIndexOf('/');
	return i <= 0 ? '/' : p.slice(0, i);
}

function pathMatch(reqPath: string, cookiePath: string): boolean {
	if (reqPath === cookiePath) return true;
	if (!reqPath.startsWith(cookiePath)) return false;
	return cookiePath.endsWith('/') || reqPath[cookiePath.length] === '/';
}
