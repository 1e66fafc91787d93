export type Vec = { dx: number; dy: number };
