// Original file: proto/meshlet/raft/v1/raft.proto

export const MessageType = {
  MSG_HUP: 'MSG_HUP',
  MSG_APP: 'MSG_APP',
  MSG_APP_RESP: 'MSG_APP_RESP',
  MSG_VOTE: 'MSG_VOTE',
  MSG_VOTE_RESP: 'MSG_VOTE_RESP',
  MSG_PRE_VOTE: 'MSG_PRE_VOTE',
  MSG_PRE_VOTE_RESP: 'MSG_PRE_VOTE_RESP',
  MSG_HEARTBEAT: 'MSG_HEARTBEAT',
  MSG_HEARTBEAT_RESP: 'MSG_HEARTBEAT_RESP',
  MSG_SNAP: 'MSG_SNAP',
  MSG_TIMEOUT_NOW: 'MSG_TIMEOUT_NOW',
  MSG_READ_INDEX: 'MSG_READ_INDEX',
  MSG_READ_INDEX_RESP: 'MSG_READ_INDEX_RESP',
  MSG_TRANSFER_LEADER: 'MSG_TRANSFER_LEADER',
  MSG_PROP: 'MSG_PROP',
} as const;

export type MessageType =
  | 'MSG_HUP'
  | 0
  | 'MSG_APP'
  | 1
  | 'MSG_APP_RESP'
  | 2
  | 'MSG_VOTE'
  | 3
  | 'MSG_VOTE_RESP'
  | 4
  | 'MSG_PRE_VOTE'
  | 5
  | 'MSG_PRE_VOTE_RESP'
  | 6
  | 'MSG_HEARTBEAT'
  | 7
  | 'MSG_HEARTBEAT_RESP'
  | 8
  | 'MSG_SNAP'
  | 9
  | 'MSG_TIMEOUT_NOW'
  | 10
  | 'MSG_READ_INDEX'
  | 11
  | 'MSG_READ_INDEX_RESP'
  | 12
  | 'MSG_TRANSFER_LEADER'
  | 13
  | 'MSG_PROP'
  | 14

export type MessageType__Output = typeof MessageType[keyof typeof MessageType]
