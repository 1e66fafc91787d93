export interface Repository<T> {
  findById(id: string): T | undefined;
  save(item: T): void;
}

export interface Customer {
  id: string;
  name: string;
}
