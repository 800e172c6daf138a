import { ZkProtocolError, hexSample } from '../errors';

/** Counts and capacities from GET_FREE_SIZES (docs/zk-protocol.md §5). */
export interface FreeSizes {
  users: number;
  fingers: number;
  records: number;
  opLogs: number;
  admins: number;
  passwords: number;
  fingersCapacity: number;
  usersCapacity: number;
  recordsCapacity: number;
  fingersAvailable: number;
  usersAvailable: number;
  recordsAvailable: number;
  /** Only in the 92-byte (TFT) form. */
  faces: number | null;
  facesCapacity: number | null;
}

const FIELDS: [keyof FreeSizes, number][] = [
  ['users', 16],
  ['fingers', 24],
  ['records', 32],
  ['opLogs', 40],
  ['admins', 48],
  ['passwords', 52],
  ['fingersCapacity', 56],
  ['usersCapacity', 60],
  ['recordsCapacity', 64],
  ['fingersAvailable', 68],
  ['usersAvailable', 72],
  ['recordsAvailable', 76],
];

/** Decodes the 80- or 92-byte reply. Shorter than 80 bytes is a protocol error naming the size. */
export function decodeFreeSizes(p: Buffer): FreeSizes {
  if (p.length < 80) {
    throw new ZkProtocolError(`GET_FREE_SIZES reply has ${p.length} bytes; expected 80 or 92: ${hexSample(p)}`, {
      length: p.length,
    });
  }
  const out = { faces: null, facesCapacity: null } as unknown as FreeSizes;
  for (const [k, off] of FIELDS) (out as unknown as Record<string, number>)[k] = p.readInt32LE(off);
  if (p.length >= 92) {
    out.faces = p.readInt32LE(80);
    out.facesCapacity = p.readInt32LE(88);
  }
  return out;
}

export type FreeSizesInput = Omit<FreeSizes, 'faces' | 'facesCapacity'> & {
  faces?: number | null;
  facesCapacity?: number | null;
};

/** Encodes the reply: 92 bytes when face counts are given, else the 80-byte ZK6 form. */
export function encodeFreeSizes(s: FreeSizesInput, withFaces: boolean): Buffer {
  const b = Buffer.alloc(withFaces ? 92 : 80);
  for (const [k, off] of FIELDS) b.writeInt32LE((s[k] as number) | 0, off);
  if (withFaces) {
    b.writeInt32LE((s.faces ?? 0) | 0, 80);
    b.writeInt32LE((s.facesCapacity ?? 0) | 0, 88);
  }
  return b;
}
