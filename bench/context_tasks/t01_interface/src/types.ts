/** A user of the service. */
export interface User {
  id: number;
  displayName: string;
  email?: string;
}
