// What `wrangler types` generates for a Worker of this project (its layout: the Cloudflare
// namespace, then a global Env extending it), bindings of every kind the helpers read.
declare namespace Cloudflare {
	interface Env {
		UPSTREAM_URL: "https://api.example.com";
		TOKEN_TTL_SECONDS: "300";
		PRIMARY_KEY: SecretsStoreSecret;
		FALLBACK_KEY: SecretsStoreSecret;
		SIGNING_KEY: SecretsStoreSecret;
		SIGNING_KEY_FALLBACK: SecretsStoreSecret;
		ENCRYPTION_KEY: SecretsStoreSecret;
		ENCRYPTION_KEY_FALLBACK: SecretsStoreSecret;
		DB_CONFIG: SecretsStoreSecret;
		LOGIN_CLIENTS: SecretsStoreSecret;
		CACHE: KVNamespace;
		AUTH: Fetcher;
		AUDIT: AnalyticsEngineDataset;
	}
}
interface Env extends Cloudflare.Env {}
