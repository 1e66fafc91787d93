export interface LineItem {
  priceCents: number;
  qty: number;
}

export interface Order {
  id: string;
  items: LineItem[];
}
