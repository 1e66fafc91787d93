export enum Role {
  Admin = 'admin',
  Member = 'member',
}

export interface Account {
  id: number;
  role: Role;
}
