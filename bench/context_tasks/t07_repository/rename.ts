import type { Repository, Customer } from './repo';

export function rename(repo: Repository<Customer>, id: string, name: string): boolean {
  // gen: find the customer by id; if found, save it with the new name and return true, else false
}
