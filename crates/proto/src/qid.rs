/// The server's unique identification of a file: two files are the same iff their qids'
/// `path`s (and types) are equal; `version` changes whenever the file does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Qid {
    pub ty: QidType,
    pub version: u32,
    pub path: u64,
}

/// The high byte of a file's mode, as carried in a qid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct QidType(pub u8);

impl QidType {
    pub const FILE: QidType = QidType(0x00);
    pub const DIR: QidType = QidType(0x80);
    pub const APPEND: QidType = QidType(0x40);
    pub const EXCL: QidType = QidType(0x20);
    pub const MOUNT: QidType = QidType(0x10);
    pub const AUTH: QidType = QidType(0x08);
    pub const TMP: QidType = QidType(0x04);

    pub fn is_dir(self) -> bool {
        self.0 & Self::DIR.0 != 0
    }

    /// The qid type implied by a stat mode: its top eight bits.
    pub fn from_mode(mode: u32) -> QidType {
        QidType((mode >> 24) as u8)
    }
}

impl Qid {
    /// Encoded size on the wire: type[1] version[4] path[8].
    pub const SIZE: usize = 13;

    pub fn is_dir(&self) -> bool {
        self.ty.is_dir()
    }
}
