import { MemoryStore } from './store';

export function cached(store: MemoryStore<number>, key: string, compute: () => number): number {
  // gen: the stored value of key if there is one, else compute() remembered under key and returned
}
