/// <reference types="vite/client" />
interface ImportMetaEnv {
  /** The functions' base URL (a build setting); the app's own origin when empty. */
  readonly VITE_API_URL?: string;
  /** The object store's public base URL, where the runtime packs are (a build setting). */
  readonly VITE_OBJECTS_URL?: string;
}
interface ImportMetaEnv {
  /** The Supabase project's URL, for the dashboard's sign-in with an account (a build setting). */
  readonly VITE_SUPABASE_URL?: string;
  /** The Supabase project's anon key (public by design), with VITE_SUPABASE_URL. */
  readonly VITE_SUPABASE_ANON_KEY?: string;
}
