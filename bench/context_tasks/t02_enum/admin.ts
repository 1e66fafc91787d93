import { Account, Role } from './models';

export function isAdmin(account: Account): boolean {
  // gen: whether the account's role is the admin role
}
