// Original file: proto/meshlet/raft/v1/raft.proto

export const EntryType = {
  ENTRY_NORMAL: 'ENTRY_NORMAL',
  ENTRY_CONF_CHANGE: 'ENTRY_CONF_CHANGE',
} as const;

export type EntryType =
  | 'ENTRY_NORMAL'
  | 0
  | 'ENTRY_CONF_CHANGE'
  | 1

export type EntryType__Output = typeof EntryType[keyof typeof EntryType]
