//! The eBPF drop program: built from raw instructions, loaded with bpf(2), no compiler needed.
//!
//! It runs as a direct-action classifier (cls_bpf) on an interface's ingress. Its state is one
//! element of an array map, shared with the process:
//!
//! | offset | field | meaning |
//! |---|---|---|
//! | 0 | `all: u32` | non-zero: drop every packet (a blackhole) |
//! | 4 | `threshold: u32` | drop a packet when the next random number is below it (loss = threshold / 2^32) |
//! | 8 | `state: u32` | the xorshift32 state: the seed, then the last number drawn |
//! | 12 | `rule: u32` | which packets the rule picks: 0 none (off), 1 TCP segments (by flags and payload), 2 TCP and UDP packets, 3 UDP packets |
//! | 16 | `seen: u64` | packets the program saw, a count |
//! | 24 | `dropped: u64` | packets it dropped, a count |
//! | 32 | `flags_mask: u32` | the TCP flags the rule looks at |
//! | 36 | `flags_value: u32` | their values in a matching segment |
//! | 40 | `nth: u32` | 0: drop every matching segment; N: every Nth (or only the Nth, with `once`) |
//! | 44 | `once: u32` | non-zero: drop only the `nth` matching segment |
//! | 48 | `matched: u64` | packets the rule picked, a count |
//! | 56 | `family: u32` | 0: either family; 4 or 6: only IPv4 or IPv6 packets are picked |
//! | 60 | `payload: u32` | TCP: 0 any segment, 1 only segments without data, 2 only segments with data |
//! | 64 | `redirect: u32` | non-zero: packets that pass go on to the next filter, which sends them to the ifb with this index to be shaped |
//! | 68 | `rules: u32` | which setting of the impairment is in force: the process counts its changes, the program copies it into each drop's record |
//!
//! Each packet it drops is also recorded, in a second array map of [`RING`] records that the
//! `dropped` count (before the drop) indexes modulo [`RING`]: the last [`RING`] drops are kept.
//! A record ([`Record`]) holds when (`bpf_ktime_get_ns`, CLOCK_MONOTONIC), why (1: every packet
//! dropped, 2: the rule picked it, 3: the random loss drew it), the `rules` in force, the frame's
//! length, and its first [`RECORDED`] octets (`bpf_skb_load_bytes`): enough for every header of
//! a TCP segment over IPv6 with options.
//!
//! A packet the rule does not drop then meets the random loss.
//!
//! A packet to be shaped is not redirected by the program (`bpf_redirect`): before 6.8 or so
//! that left the packet unmarked as redirected, and ifb drops what is not marked (Debian's 6.1
//! passed nothing, not even ARP). The program hands it on (`TC_ACT_UNSPEC`) to a u32 filter
//! behind it whose mirred action redirects it, as `tc` users have always fed an ifb.
//!
//! The random numbers come from the map, not from `bpf_get_prandom_u32`, so that a seed makes
//! the drops repeatable: the same TCP and UDP packets in the same order meet the same fate. Only
//! TCP and UDP packets draw a number; a blackhole drops every frame, ARP and neighbour discovery
//! included, as a vanished peer would.

use std::{
    io,
    mem::size_of,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

/// The map value, as the program reads and writes it.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct State {
    pub all: u32,
    pub threshold: u32,
    pub state: u32,
    pub rule: u32,
    pub seen: u64,
    pub dropped: u64,
    pub flags_mask: u32,
    pub flags_value: u32,
    pub nth: u32,
    pub once: u32,
    pub matched: u64,
    pub family: u32,
    pub payload: u32,
    pub redirect: u32,
    pub rules: u32,
}

/// How many drops the ring keeps: the last ones.
pub(crate) const RING: u32 = 32;
/// How many octets of a dropped frame are kept.
pub(crate) const RECORDED: usize = 104;

/// One drop, as the program records it.
#[repr(C)]
#[derive(Debug, Clone, Copy)]
pub(crate) struct Record {
    /// CLOCK_MONOTONIC, in nanoseconds.
    pub at_ns: u64,
    /// Why: [`WHY_ALL`], [`WHY_RULE`] or [`WHY_LOSS`].
    pub why: u32,
    /// The `rules` in force.
    pub rules: u32,
    /// The frame's length on the wire.
    pub len: u32,
    pub _pad: u32,
    /// Its first octets (zero past `len`).
    pub data: [u8; RECORDED],
}

impl Default for Record {
    fn default() -> Self {
        Record {
            at_ns: 0,
            why: 0,
            rules: 0,
            len: 0,
            _pad: 0,
            data: [0; RECORDED],
        }
    }
}

/// `Record::why`: every packet dropped (a blackhole, 100 % loss), the rule, the random loss.
pub(crate) const WHY_ALL: u32 = 1;
pub(crate) const WHY_RULE: u32 = 2;
pub(crate) const WHY_LOSS: u32 = 3;

/// `State::rule`: off, TCP segments by flags and payload, TCP and UDP packets, UDP packets.
pub(crate) const RULE_OFF: u32 = 0;
pub(crate) const RULE_TCP: u32 = 1;
pub(crate) const RULE_TRANSPORT: u32 = 2;
pub(crate) const RULE_UDP: u32 = 3;
/// `State::payload`: any, none (a pure ACK, a bare SYN), some.
pub(crate) const PAYLOAD_ANY: u32 = 0;
pub(crate) const PAYLOAD_EMPTY: u32 = 1;
pub(crate) const PAYLOAD_DATA: u32 = 2;

const BPF_MAP_CREATE: libc::c_long = 0;
const BPF_MAP_LOOKUP_ELEM: libc::c_long = 1;
const BPF_MAP_UPDATE_ELEM: libc::c_long = 2;
const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_MAP_TYPE_ARRAY: u32 = 2;
const BPF_PROG_TYPE_SCHED_CLS: u32 = 3;
/// `TC_ACT_UNSPEC`, `TC_ACT_OK` and `TC_ACT_SHOT`: what a direct-action classifier returns
/// (`TC_ACT_UNSPEC`: no verdict, the next filter decides).
const TC_ACT_UNSPEC: i32 = -1;
const TC_ACT_OK: i32 = 0;
const TC_ACT_SHOT: i32 = 2;

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Debug, Clone, Copy)]
struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

// Instruction classes, sizes, modes and operations (linux/bpf_common.h, linux/bpf.h).
const LD: u8 = 0x00;
const LDX: u8 = 0x01;
const ST: u8 = 0x02;
const STX: u8 = 0x03;
const ALU: u8 = 0x04;
const JMP: u8 = 0x05;
const ALU64: u8 = 0x07;
const W: u8 = 0x00;
const H: u8 = 0x08;
const B: u8 = 0x10;
const DW: u8 = 0x18;
const IMM: u8 = 0x00;
const MEM: u8 = 0x60;
const ATOMIC: u8 = 0xc0;
const K: u8 = 0x00;
const X: u8 = 0x08;
const ADD: u8 = 0x00;
const SUB: u8 = 0x10;
const OR: u8 = 0x40;
const LSH: u8 = 0x60;
const RSH: u8 = 0x70;
const XOR: u8 = 0xa0;
const AND: u8 = 0x50;
const MOD: u8 = 0x90;
const MOV: u8 = 0xb0;
const JA: u8 = 0x00;
const JEQ: u8 = 0x10;
const JGT: u8 = 0x20;
const JGE: u8 = 0x30;
const JNE: u8 = 0x50;
const JLT: u8 = 0xa0;
const CALL: u8 = 0x80;
const EXIT: u8 = 0x90;
const PSEUDO_MAP_FD: u8 = 1;
const HELPER_MAP_LOOKUP_ELEM: i32 = 1;
const HELPER_KTIME_GET_NS: i32 = 5;
const HELPER_SKB_LOAD_BYTES: i32 = 26;

/// Places in the program that jumps go to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Label {
    Ipv4,
    Protocol,
    Kind,
    TcpRule,
    HasData,
    Matched,
    Once,
    Random,
    Draw,
    Drop,
    Clamp,
    Copy,
    Shot,
    Pass,
    Accept,
}

/// Instructions with labelled jumps, patched once every label has its place.
#[derive(Default)]
struct Asm {
    insns: Vec<Insn>,
    jumps: Vec<(usize, Label)>,
    labels: Vec<(Label, usize)>,
}

impl Asm {
    fn op(&mut self, insn: Insn) {
        self.insns.push(insn);
    }

    fn jump(&mut self, code: u8, dst: u8, src: u8, imm: i32, to: Label) {
        self.jumps.push((self.insns.len(), to));
        self.insns.push(insn(code, dst, src, 0, imm));
    }

    fn label(&mut self, label: Label) {
        self.labels.push((label, self.insns.len()));
    }

    fn finish(mut self) -> Vec<Insn> {
        for (at, to) in self.jumps {
            let target = self
                .labels
                .iter()
                .find(|(l, _)| *l == to)
                .map_or(at + 1, |(_, t)| *t);
            self.insns[at].off = (target as i64 - at as i64 - 1) as i16;
        }
        self.insns
    }
}

/// The program, for the state map `map_fd` and the ring of drops `ring_fd` (see the module
/// documentation for what it does).
fn program(map_fd: i32, ring_fd: i32) -> Vec<Insn> {
    let (r0, r1, r2, r3, r4, r5, r6, r7, r8, r9, r10) = (0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10);
    // Offsets in `struct __sk_buff` of the packet's start and end.
    const SKB_DATA: i16 = 76;
    const SKB_DATA_END: i16 = 80;
    // Stack slots: the map key, then what the parser found.
    const KEY: i16 = -4;
    const FAMILY: i16 = -8;
    const PROTOCOL: i16 = -12;
    const L4_LENGTH: i16 = -16;
    const WHY: i16 = -20;
    const SLOT: i16 = -24;
    let (tcp, udp) = (libc::IPPROTO_TCP, libc::IPPROTO_UDP);
    let mut a = Asm::default();
    a.op(insn(ALU64 | MOV | X, r9, r1, 0, 0)); // r9 = ctx, kept across the call
    a.op(insn(ST | W | MEM, r10, 0, KEY, 0));
    a.op(insn(ST | W | MEM, r10, 0, WHY, WHY_ALL as i32)); // why, until a rule or loss says
    lookup(&mut a, map_fd, KEY); // r0 = &state or NULL
    a.jump(JMP | JEQ | K, r0, 0, 0, Label::Accept);
    a.op(insn(ALU64 | MOV | X, r6, r0, 0, 0));
    a.op(insn(ALU64 | MOV | K, r1, 0, 0, 1));
    a.op(insn(STX | DW | ATOMIC, r6, r1, 16, ADD as i32)); // seen += 1
    a.op(insn(LDX | W | MEM, r1, r6, 0, 0)); // all
    a.jump(JMP | JNE | K, r1, 0, 0, Label::Drop);
    // Parse: family (r2), IP protocol (r3), where the transport header starts (r5), and the
    // length from there to the end of the IP packet (r1).
    a.op(insn(LDX | W | MEM, r7, r9, SKB_DATA, 0));
    a.op(insn(LDX | W | MEM, r8, r9, SKB_DATA_END, 0));
    a.op(insn(ALU64 | MOV | X, r4, r7, 0, 0));
    a.op(insn(ALU64 | ADD | K, r4, 0, 0, 34)); // Ethernet and an IPv4 header
    a.jump(JMP | JGT | X, r4, r8, 0, Label::Pass);
    a.op(insn(LDX | H | MEM, r3, r7, 12, 0)); // EtherType, as it lies in memory
    a.jump(
        JMP | JEQ | K,
        r3,
        0,
        i32::from(0x0800u16.to_be()),
        Label::Ipv4,
    );
    a.jump(
        JMP | JNE | K,
        r3,
        0,
        i32::from(0x86ddu16.to_be()),
        Label::Pass,
    );
    a.op(insn(ALU64 | ADD | K, r4, 0, 0, 20)); // an IPv6 header is 20 octets longer
    a.jump(JMP | JGT | X, r4, r8, 0, Label::Pass);
    a.op(insn(LDX | B | MEM, r3, r7, 14 + 6, 0)); // next header (the first only)
    a.op(insn(ALU64 | MOV | K, r5, 0, 0, 14 + 40));
    load_be16(&mut a, r1, r7, 14 + 4, r2); // payload length
    a.op(insn(ALU64 | MOV | K, r2, 0, 0, 6));
    a.jump(JMP | JA, 0, 0, 0, Label::Protocol);
    a.label(Label::Ipv4);
    a.op(insn(LDX | B | MEM, r3, r7, 14 + 9, 0)); // protocol
    a.op(insn(LDX | B | MEM, r5, r7, 14, 0)); // version and header length
    a.op(insn(ALU64 | AND | K, r5, 0, 0, 0x0f));
    a.op(insn(ALU64 | LSH | K, r5, 0, 0, 2));
    load_be16(&mut a, r1, r7, 14 + 2, r2); // total length
    a.op(insn(ALU64 | SUB | X, r1, r5, 0, 0));
    a.op(insn(ALU64 | ADD | K, r5, 0, 0, 14));
    a.op(insn(ALU64 | MOV | K, r2, 0, 0, 4));
    a.label(Label::Protocol);
    a.op(insn(STX | W | MEM, r10, r2, FAMILY, 0));
    a.op(insn(STX | W | MEM, r10, r3, PROTOCOL, 0));
    a.op(insn(STX | W | MEM, r10, r1, L4_LENGTH, 0));
    // The rule: which packets it picks.
    a.op(insn(LDX | W | MEM, r1, r6, 12, 0)); // rule
    a.jump(JMP | JEQ | K, r1, 0, 0, Label::Random);
    a.op(insn(LDX | W | MEM, r2, r6, 56, 0)); // family
    a.jump(JMP | JEQ | K, r2, 0, 0, Label::Kind);
    a.op(insn(LDX | W | MEM, r4, r10, FAMILY, 0));
    a.jump(JMP | JNE | X, r2, r4, 0, Label::Random);
    a.label(Label::Kind);
    a.jump(JMP | JEQ | K, r1, 0, RULE_TCP as i32, Label::TcpRule);
    a.jump(JMP | JEQ | K, r3, 0, udp, Label::Matched);
    a.jump(JMP | JEQ | K, r1, 0, RULE_UDP as i32, Label::Random);
    a.jump(JMP | JEQ | K, r3, 0, tcp, Label::Matched);
    a.jump(JMP | JA, 0, 0, 0, Label::Random);
    // TCP segments with a whole header in the frame, by flags and by payload.
    a.label(Label::TcpRule);
    a.jump(JMP | JNE | K, r3, 0, tcp, Label::Random);
    a.op(insn(ALU64 | ADD | X, r7, r5, 0, 0)); // r7 = the TCP header
    a.op(insn(ALU64 | MOV | X, r4, r7, 0, 0));
    a.op(insn(ALU64 | ADD | K, r4, 0, 0, 20));
    a.jump(JMP | JGT | X, r4, r8, 0, Label::Random);
    a.op(insn(LDX | B | MEM, r1, r7, 13, 0)); // flags
    a.op(insn(LDX | W | MEM, r2, r6, 32, 0)); // flags_mask
    a.op(insn(ALU64 | AND | X, r1, r2, 0, 0));
    a.op(insn(LDX | W | MEM, r2, r6, 36, 0)); // flags_value
    a.jump(JMP | JNE | X, r1, r2, 0, Label::Random);
    a.op(insn(LDX | W | MEM, r2, r6, 60, 0)); // payload
    a.jump(JMP | JEQ | K, r2, 0, PAYLOAD_ANY as i32, Label::Matched);
    a.op(insn(LDX | B | MEM, r1, r7, 12, 0)); // data offset, in words, in the high nibble
    a.op(insn(ALU64 | RSH | K, r1, 0, 0, 4));
    a.op(insn(ALU64 | LSH | K, r1, 0, 0, 2));
    a.op(insn(LDX | W | MEM, r4, r10, L4_LENGTH, 0));
    a.jump(JMP | JNE | X, r4, r1, 0, Label::HasData);
    a.jump(JMP | JEQ | K, r2, 0, PAYLOAD_EMPTY as i32, Label::Matched);
    a.jump(JMP | JA, 0, 0, 0, Label::Random);
    a.label(Label::HasData);
    a.jump(JMP | JNE | K, r2, 0, PAYLOAD_DATA as i32, Label::Random);
    // A picked packet: counted, then dropped if it is the one `nth` and `once` name.
    a.label(Label::Matched);
    a.op(insn(ST | W | MEM, r10, 0, WHY, WHY_RULE as i32));
    a.op(insn(LDX | DW | MEM, r1, r6, 48, 0)); // matched += 1 (one queue: packets come in order)
    a.op(insn(ALU64 | ADD | K, r1, 0, 0, 1));
    a.op(insn(STX | DW | MEM, r6, r1, 48, 0));
    a.op(insn(LDX | W | MEM, r2, r6, 40, 0)); // nth
    a.jump(JMP | JEQ | K, r2, 0, 0, Label::Drop);
    a.op(insn(LDX | W | MEM, r3, r6, 44, 0)); // once
    a.jump(JMP | JNE | K, r3, 0, 0, Label::Once);
    a.op(insn(ALU64 | MOV | X, r3, r1, 0, 0));
    a.op(insn(ALU64 | MOD | X, r3, r2, 0, 0));
    a.jump(JMP | JEQ | K, r3, 0, 0, Label::Drop);
    a.jump(JMP | JA, 0, 0, 0, Label::Random);
    a.label(Label::Once);
    a.jump(JMP | JEQ | X, r1, r2, 0, Label::Drop);
    // Random loss: TCP and UDP only.
    a.label(Label::Random);
    a.op(insn(LDX | W | MEM, r3, r10, PROTOCOL, 0));
    a.jump(JMP | JEQ | K, r3, 0, tcp, Label::Draw);
    a.jump(JMP | JNE | K, r3, 0, udp, Label::Pass);
    a.label(Label::Draw);
    a.op(insn(ST | W | MEM, r10, 0, WHY, WHY_LOSS as i32));
    a.op(insn(LDX | W | MEM, r2, r6, 4, 0)); // threshold
    a.jump(JMP | JEQ | K, r2, 0, 0, Label::Pass);
    a.op(insn(LDX | W | MEM, r3, r6, 8, 0)); // state; xorshift32 in 32-bit ALU
    for (op, shift) in [(LSH, 13), (RSH, 17), (LSH, 5)] {
        a.op(insn(ALU | MOV | X, r4, r3, 0, 0));
        a.op(insn(ALU | op | K, r4, 0, 0, shift));
        a.op(insn(ALU | XOR | X, r3, r4, 0, 0));
    }
    a.op(insn(STX | W | MEM, r6, r3, 8, 0)); // state = next
    a.jump(JMP | JGE | X, r3, r2, 0, Label::Pass); // number >= threshold: pass
    a.label(Label::Drop);
    // The record's slot: the count before this drop (read apart from the increment: two
    // drops at once on two CPUs may share a slot, a record lost, never a wrong one kept).
    a.op(insn(LDX | DW | MEM, r1, r6, 24, 0));
    a.op(insn(ALU64 | AND | K, r1, 0, 0, (RING - 1) as i32));
    a.op(insn(STX | W | MEM, r10, r1, SLOT, 0));
    a.op(insn(ALU64 | MOV | K, r1, 0, 0, 1));
    a.op(insn(STX | DW | ATOMIC, r6, r1, 24, ADD as i32)); // dropped += 1
    lookup(&mut a, ring_fd, SLOT); // r0 = &record or NULL
    a.jump(JMP | JEQ | K, r0, 0, 0, Label::Shot);
    a.op(insn(ALU64 | MOV | X, r7, r0, 0, 0));
    a.op(insn(JMP | CALL, 0, 0, 0, HELPER_KTIME_GET_NS));
    a.op(insn(STX | DW | MEM, r7, r0, 0, 0)); // at_ns
    a.op(insn(LDX | W | MEM, r1, r10, WHY, 0));
    a.op(insn(STX | W | MEM, r7, r1, 8, 0)); // why
    a.op(insn(LDX | W | MEM, r1, r6, 68, 0));
    a.op(insn(STX | W | MEM, r7, r1, 12, 0)); // rules
    a.op(insn(LDX | W | MEM, r4, r9, 0, 0)); // skb->len
    a.op(insn(STX | W | MEM, r7, r4, 16, 0)); // len
    // `< 1` rather than `== 0`: 6.1's verifier narrows a range on an ordering test only, and
    // bpf_skb_load_bytes needs a length of at least one.
    a.jump(JMP | JLT | K, r4, 0, 1, Label::Shot);
    a.jump(JMP | JGT | K, r4, 0, RECORDED as i32, Label::Clamp);
    a.jump(JMP | JA, 0, 0, 0, Label::Copy);
    a.label(Label::Clamp);
    a.op(insn(ALU64 | MOV | K, r4, 0, 0, RECORDED as i32));
    a.label(Label::Copy); // the frame's first r4 octets (1 to RECORDED) into data
    a.op(insn(ALU64 | MOV | X, r1, r9, 0, 0));
    a.op(insn(ALU64 | MOV | K, r2, 0, 0, 0));
    a.op(insn(ALU64 | MOV | X, r3, r7, 0, 0));
    a.op(insn(ALU64 | ADD | K, r3, 0, 0, 24));
    a.op(insn(JMP | CALL, 0, 0, 0, HELPER_SKB_LOAD_BYTES));
    a.label(Label::Shot);
    a.op(insn(ALU64 | MOV | K, r0, 0, 0, TC_ACT_SHOT));
    a.op(insn(JMP | EXIT, 0, 0, 0, 0));
    // A packet that passes goes on, or to the filter that redirects it to the shaping device.
    a.label(Label::Pass);
    a.op(insn(LDX | W | MEM, r1, r6, 64, 0)); // redirect
    a.jump(JMP | JEQ | K, r1, 0, 0, Label::Accept);
    a.op(insn(ALU64 | MOV | K, r0, 0, 0, TC_ACT_UNSPEC));
    a.op(insn(JMP | EXIT, 0, 0, 0, 0));
    a.label(Label::Accept);
    a.op(insn(ALU64 | MOV | K, r0, 0, 0, TC_ACT_OK));
    a.op(insn(JMP | EXIT, 0, 0, 0, 0));
    a.finish()
}

/// r0 = bpf_map_lookup_elem(map `map_fd`, the 32-bit key at `r10 + key`): the element, or NULL.
/// Clobbers r1 to r5, as every helper call does.
fn lookup(a: &mut Asm, map_fd: i32, key: i16) {
    let (r1, r2, r10) = (1, 2, 10);
    a.op(insn(ALU64 | MOV | X, r2, r10, 0, 0));
    a.op(insn(ALU64 | ADD | K, r2, 0, 0, i32::from(key)));
    a.op(insn(LD | DW | IMM, r1, PSEUDO_MAP_FD, 0, map_fd));
    a.op(insn(0, 0, 0, 0, 0));
    a.op(insn(JMP | CALL, 0, 0, 0, HELPER_MAP_LOOKUP_ELEM));
}

/// `dst` = the big-endian 16-bit number at `packet + off` (bounds already checked), using `tmp`.
fn load_be16(a: &mut Asm, dst: u8, packet: u8, off: i16, tmp: u8) {
    a.op(insn(LDX | B | MEM, dst, packet, off, 0));
    a.op(insn(ALU64 | LSH | K, dst, 0, 0, 8));
    a.op(insn(LDX | B | MEM, tmp, packet, off + 1, 0));
    a.op(insn(ALU64 | OR | X, dst, tmp, 0, 0));
}

/// BPF_PROG_LOAD of `insns` as a classifier, with the verifier's log in `log` if given.
fn load_program(insns: &[Insn], log: Option<&mut [u8]>) -> io::Result<i64> {
    let license = c"GPL";
    let mut attr = [0u64; 16];
    attr[0] = u64::from(BPF_PROG_TYPE_SCHED_CLS) | ((insns.len() as u64) << 32);
    attr[1] = insns.as_ptr() as u64;
    attr[2] = license.as_ptr() as u64;
    if let Some(log) = log {
        attr[3] = 1 | ((log.len() as u64) << 32); // log_level, log_size
        attr[4] = log.as_mut_ptr() as u64;
    }
    bpf(BPF_PROG_LOAD, &mut attr)
}

fn bpf(cmd: libc::c_long, attr: &mut [u64; 16]) -> io::Result<i64> {
    // SAFETY: attr is a zero-padded bpf_attr of 128 octets, as every command here expects.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr.as_mut_ptr(),
            size_of::<[u64; 16]>(),
        )
    };
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(rc)
    }
}

/// A loaded drop program and its state map.
pub(crate) struct DropProgram {
    map: OwnedFd,
    ring: OwnedFd,
    prog: OwnedFd,
}

impl DropProgram {
    /// Creates the map and loads the program. The verifier's log comes back in the error.
    pub(crate) fn load() -> io::Result<DropProgram> {
        let mut attr = [0u64; 16];
        attr[0] = u64::from(BPF_MAP_TYPE_ARRAY) | (4u64 << 32); // map_type, key_size
        attr[1] = size_of::<State>() as u64 | (1u64 << 32); // value_size, max_entries
        // SAFETY: BPF_MAP_CREATE returns a new fd, owned right after.
        let map = unsafe { OwnedFd::from_raw_fd(bpf(BPF_MAP_CREATE, &mut attr)? as i32) };
        let mut attr = [0u64; 16];
        attr[0] = u64::from(BPF_MAP_TYPE_ARRAY) | (4u64 << 32);
        attr[1] = size_of::<Record>() as u64 | (u64::from(RING) << 32);
        // SAFETY: as above.
        let ring = unsafe { OwnedFd::from_raw_fd(bpf(BPF_MAP_CREATE, &mut attr)? as i32) };
        let insns = program(map.as_raw_fd(), ring.as_raw_fd());
        // Without a log first: the verifier is several times slower when it writes one.
        let prog = load_program(&insns, None).or_else(|_| {
            let mut log = vec![0u8; 64 * 1024];
            load_program(&insns, Some(&mut log)).map_err(|e| {
                let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
                io::Error::new(
                    e.kind(),
                    format!(
                        "{e}; verifier: {}",
                        String::from_utf8_lossy(&log[..end]).trim()
                    ),
                )
            })
        })?;
        // SAFETY: BPF_PROG_LOAD returned a new fd, owned right after.
        let prog = unsafe { OwnedFd::from_raw_fd(prog as i32) };
        Ok(DropProgram { map, ring, prog })
    }

    /// The program's fd, for the tc filter.
    pub(crate) fn prog_fd(&self) -> i32 {
        self.prog.as_raw_fd()
    }

    /// Reads the state.
    pub(crate) fn state(&self) -> io::Result<State> {
        let key = 0u32;
        let mut value = State::default();
        let mut attr = [0u64; 16];
        attr[0] = self.map.as_raw_fd() as u64;
        attr[1] = &key as *const u32 as u64;
        attr[2] = &mut value as *mut State as u64;
        bpf(BPF_MAP_LOOKUP_ELEM, &mut attr)?;
        Ok(value)
    }

    /// The records of the last drops (at most [`RING`]), oldest first, given how many packets
    /// were `dropped` in all.
    pub(crate) fn records(&self, dropped: u64) -> io::Result<Vec<Record>> {
        let kept = dropped.min(u64::from(RING));
        let mut records = Vec::with_capacity(kept as usize);
        for n in dropped - kept..dropped {
            let key = (n % u64::from(RING)) as u32;
            let mut value = Record::default();
            let mut attr = [0u64; 16];
            attr[0] = self.ring.as_raw_fd() as u64;
            attr[1] = &key as *const u32 as u64;
            attr[2] = &mut value as *mut Record as u64;
            bpf(BPF_MAP_LOOKUP_ELEM, &mut attr)?;
            // A slot two drops at once shared, or one not written yet, has no time.
            if value.at_ns != 0 {
                records.push(value);
            }
        }
        records.sort_by_key(|r| r.at_ns);
        records.dedup_by_key(|r| r.at_ns);
        Ok(records)
    }

    /// Writes the state.
    pub(crate) fn set_state(&self, state: &State) -> io::Result<()> {
        let key = 0u32;
        let mut attr = [0u64; 16];
        attr[0] = self.map.as_raw_fd() as u64;
        attr[1] = &key as *const u32 as u64;
        attr[2] = state as *const State as u64;
        bpf(BPF_MAP_UPDATE_ELEM, &mut attr).map(drop)
    }
}
