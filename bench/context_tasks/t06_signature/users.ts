import { fetchJson } from './api';

export interface Profile {
  name: string;
}

export async function loadProfile(id: string): Promise<Profile> {
  // gen: fetchJson of '/users/' + id with a timeout of 2000 ms
}
