import type { User } from './types';

export function greeting(user: User): string {
  // gen: 'Hello, ' followed by the user's display name
}
