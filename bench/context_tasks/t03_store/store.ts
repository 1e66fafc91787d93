export class MemoryStore<T> {
  private items = new Map<string, T>();

  lookup(key: string): T | undefined {
    return this.items.get(key);
  }

  remember(key: string, value: T): void {
    this.items.set(key, value);
  }
}
