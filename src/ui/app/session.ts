/** The signed-in session: the API key, who it belongs to, and the live feed opened with it. */
import { createContext } from 'preact';
import { useContext, useEffect, useState } from 'preact/hooks';
import type { Principal } from './api';
import type { Feed, FeedState } from './feed';

export interface Session {
  key: string;
  principal: Principal;
  feed: Feed;
  /** Signs out, showing `reason` on the sign-in form. */
  signOut(reason?: string): void;
}

export const SessionContext = createContext<Session | undefined>(undefined);

export function useSession(): Session {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside a signed-in view');
  return s;
}

/** The feed's state; the calling view re-renders once per tick. */
export function useFeed(): FeedState {
  const { feed } = useSession();
  const [, setVersion] = useState(feed.state.version);
  useEffect(() => feed.subscribe((s) => setVersion(s.version)), [feed]);
  return feed.state;
}

/** Where the key lives: this tab's sessionStorage (gone when the tab closes). */
export const KEY_STORAGE = 'kindling.apiKey';
