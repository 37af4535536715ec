//! The built-in demo knowledge base: hardware-interface and memory facts of the kind a
//! semiconductor RAG assistant answers. The simulator answers from it, and `serve --demo` seeds
//! the same entries as test cases, so demo scores mean something. Also owns the question → entry
//! lookup; how much of an entry an answer carries is `answer`'s business.

use std::collections::HashSet;
use std::sync::OnceLock;

/// One question with the answer a perfect app gives. Every keyword occurs in `expected_answer`.
#[derive(Debug)]
pub struct KbEntry {
    pub name: &'static str,
    pub query: &'static str,
    pub expected_answer: &'static str,
    pub keywords: &'static [&'static str],
    pub category: &'static str,
    pub tags: &'static [&'static str],
}

pub fn entries() -> &'static [KbEntry] {
    &ENTRIES
}

static ENTRIES: [KbEntry; 21] = [
    KbEntry {
        name: "MIPI D-PHY 基本參數查詢",
        query: "MIPI D-PHY 的基本參數有哪些？",
        expected_answer: "MIPI D-PHY v2.5 每條資料通道最高速率為 4.5 Gbps，採用一條時脈通道加上一到四條資料通道的源同步架構。高速模式使用約 200 mV 的低擺幅差動訊號，低功耗模式則使用 1.2 V 的單端訊號。",
        keywords: &["4.5 Gbps", "時脈通道", "200 mV", "低功耗模式", "1.2 V"],
        category: "interfaces",
        tags: &["mipi", "camera", "display"],
    },
    KbEntry {
        name: "USB4 頻寬規格",
        query: "USB4 的最大頻寬是多少？",
        expected_answer: "USB4 第一版最高總頻寬為 40 Gbps，由兩條各 20 Gbps 的通道組成。USB4 2.0 版提升到 80 Gbps，非對稱模式下單向可達 120 Gbps。USB4 一律使用 Type-C 連接器。",
        keywords: &["40 Gbps", "20 Gbps", "80 Gbps", "120 Gbps", "Type-C"],
        category: "interfaces",
        tags: &["usb", "bandwidth"],
    },
    KbEntry {
        name: "PCIe 5.0 通道速率",
        query: "PCIe 5.0 每條通道的傳輸速率是多少？",
        expected_answer: "PCIe 5.0 每條通道的傳輸速率為 32 GT/s，採用 128b/130b 編碼。x16 連結的單向頻寬約為 63 GB/s。",
        keywords: &["32 GT/s", "128b/130b", "x16", "63 GB/s"],
        category: "interfaces",
        tags: &["pcie", "bandwidth"],
    },
    KbEntry {
        name: "LPDDR5 電壓",
        query: "LPDDR5 的工作電壓是多少？",
        expected_answer: "LPDDR5 的 VDD1 為 1.8 V，VDD2H 為 1.05 V，VDD2L 為 0.9 V。I/O 電壓 VDDQ 降到 0.5 V，最高資料速率為 6400 MT/s。",
        keywords: &["1.8 V", "1.05 V", "VDDQ", "0.5 V", "6400 MT/s"],
        category: "memory",
        tags: &["lpddr5", "dram", "voltage"],
    },
    KbEntry {
        name: "I2C 時脈模式",
        query: "I2C 有哪些時脈速度模式？",
        expected_answer: "I2C 標準模式為 100 kHz，快速模式為 400 kHz，Fast-mode Plus 為 1 MHz。高速模式可達 3.4 MHz，另有單向的超快速模式 5 MHz。",
        keywords: &["100 kHz", "400 kHz", "1 MHz", "3.4 MHz", "5 MHz"],
        category: "interfaces",
        tags: &["i2c", "low-speed"],
    },
    KbEntry {
        name: "HDMI 2.1 頻寬",
        query: "HDMI 2.1 的最大頻寬是多少？",
        expected_answer: "HDMI 2.1 使用固定速率連結（FRL）時最大頻寬為 48 Gbps，由四條 12 Gbps 的通道組成。它支援 4K 120 Hz 與 8K 60 Hz，搭配 DSC 壓縮可達 10K 解析度。",
        keywords: &["48 Gbps", "FRL", "12 Gbps", "8K 60 Hz", "DSC"],
        category: "display",
        tags: &["hdmi", "bandwidth", "video"],
    },
    KbEntry {
        name: "UFS 4.0 通道速率",
        query: "UFS 4.0 每條通道的速率是多少？",
        expected_answer: "UFS 4.0 採用 MIPI M-PHY 5.0 的 HS-G5 模式，每條通道速率為 23.2 Gbps。雙通道配置的理論頻寬為 46.4 Gbps，循序讀取約可達 4200 MB/s。",
        keywords: &["M-PHY 5.0", "HS-G5", "23.2 Gbps", "46.4 Gbps", "4200 MB/s"],
        category: "storage",
        tags: &["ufs", "flash", "mipi"],
    },
    KbEntry {
        name: "MIPI C-PHY lane rate",
        query: "What is the maximum data rate per lane of MIPI C-PHY?",
        expected_answer: "MIPI C-PHY v2.0 runs at up to 6 Gsps per lane, which carries about 13.7 Gbps because each symbol encodes 2.28 bits. Each lane is a trio of three wires with an embedded clock, so no separate clock lane is needed.",
        keywords: &["6 Gsps", "13.7 Gbps", "2.28 bits", "three wires", "embedded clock"],
        category: "interfaces",
        tags: &["mipi", "camera"],
    },
    KbEntry {
        name: "DDR5 operating voltage",
        query: "What is the operating voltage of DDR5 memory?",
        expected_answer: "DDR5 runs VDD and VDDQ at 1.1 V, down from 1.2 V on DDR4. The wordline supply VPP is 1.8 V. Voltage regulation moves onto the DIMM through an on-module PMIC.",
        keywords: &["1.1 V", "1.2 V", "1.8 V", "VPP", "PMIC"],
        category: "memory",
        tags: &["ddr5", "dram", "voltage"],
    },
    KbEntry {
        name: "10GBASE-T cabling",
        query: "Which cable category does 10GBASE-T need to reach 100 meters?",
        expected_answer: "10GBASE-T needs Category 6A or better twisted-pair cable to reach 100 meters. On Category 6 cable the reach drops to about 55 meters. It uses all four pairs with PAM-16 signalling at 800 Mbaud per pair.",
        keywords: &["Category 6A", "100 meters", "55 meters", "four pairs", "PAM-16"],
        category: "networking",
        tags: &["ethernet", "cabling"],
    },
    KbEntry {
        name: "SPI modes",
        query: "What are the four SPI modes?",
        expected_answer: "SPI has four modes set by clock polarity (CPOL) and clock phase (CPHA). Mode 0 is CPOL=0, CPHA=0; mode 1 is CPOL=0, CPHA=1; mode 2 is CPOL=1, CPHA=0; mode 3 is CPOL=1, CPHA=1. Mode 0 and mode 3 both sample data on the rising clock edge.",
        keywords: &["CPOL", "CPHA", "Mode 0", "mode 3", "rising"],
        category: "interfaces",
        tags: &["spi", "low-speed"],
    },
    KbEntry {
        name: "UART frame format",
        query: "What is the standard UART frame format?",
        expected_answer: "The common UART frame is 8N1: one start bit, 8 data bits sent LSB first, no parity and one stop bit. That is 10 bit times per byte, so 115200 baud moves at most 11520 bytes per second.",
        keywords: &["start bit", "8 data bits", "LSB first", "stop bit", "115200"],
        category: "interfaces",
        tags: &["uart", "serial", "low-speed"],
    },
    KbEntry {
        name: "CAN FD payload",
        query: "What is the maximum payload of a CAN FD frame?",
        expected_answer: "A CAN FD frame carries up to 64 bytes of data, compared with 8 bytes in classical CAN. The data phase can switch to a higher bit rate, typically 2 to 5 Mbit/s, while arbitration stays at up to 1 Mbit/s.",
        keywords: &["64 bytes", "8 bytes", "data phase", "5 Mbit/s", "arbitration"],
        category: "automotive",
        tags: &["can", "automotive", "bus"],
    },
    KbEntry {
        name: "Bluetooth LE 2M PHY",
        query: "What does the Bluetooth LE 2M PHY provide?",
        expected_answer: "The LE 2M PHY, introduced in Bluetooth 5.0, doubles the symbol rate to 2 Msym/s for a raw data rate of 2 Mbps. It keeps GFSK modulation and trades a slightly shorter range for less airtime and lower power.",
        keywords: &["Bluetooth 5.0", "2 Msym/s", "2 Mbps", "GFSK", "range"],
        category: "wireless",
        tags: &["bluetooth", "ble", "phy"],
    },
    KbEntry {
        name: "Wi-Fi 6 channel width",
        query: "What channel widths does Wi-Fi 6 support?",
        expected_answer: "Wi-Fi 6 (802.11ax) supports 20, 40, 80 and 160 MHz channels, where 160 MHz may also be built as 80+80 MHz. With OFDMA and 1024-QAM its peak PHY rate is 9.6 Gbps.",
        keywords: &["802.11ax", "160 MHz", "OFDMA", "1024-QAM", "9.6 Gbps"],
        category: "wireless",
        tags: &["wifi", "802.11"],
    },
    KbEntry {
        name: "eMMC 5.1 HS400",
        query: "What is the HS400 bus speed of eMMC 5.1?",
        expected_answer: "In HS400 mode eMMC 5.1 runs an 8-bit DDR bus at 200 MHz, for up to 400 MB/s. eMMC 5.1 also adds command queuing and an Enhanced Strobe signal for HS400 data capture.",
        keywords: &["HS400", "8-bit", "200 MHz", "400 MB/s", "Enhanced Strobe"],
        category: "storage",
        tags: &["emmc", "flash"],
    },
    KbEntry {
        name: "JTAG signals",
        query: "Which signals does a JTAG interface use?",
        expected_answer: "IEEE 1149.1 JTAG uses four mandatory signals: TCK, TMS, TDI and TDO. An optional fifth signal, TRST, resets the TAP controller asynchronously.",
        keywords: &["IEEE 1149.1", "TCK", "TMS", "TDI", "TDO"],
        category: "debug",
        tags: &["jtag", "debug", "boundary-scan"],
    },
    KbEntry {
        name: "USB PD 3.1 EPR power",
        query: "What is the maximum power of USB Power Delivery 3.1 EPR?",
        expected_answer: "USB PD 3.1 Extended Power Range (EPR) delivers up to 240 W at 48 V and 5 A. It needs an EPR-rated 5 A Type-C cable, while Standard Power Range stays at up to 100 W.",
        keywords: &["240 W", "48 V", "5 A", "100 W", "EPR"],
        category: "power",
        tags: &["usb", "power-delivery"],
    },
    KbEntry {
        name: "SATA III throughput",
        query: "What is the line rate and usable throughput of SATA III?",
        expected_answer: "SATA III signals at a 6 Gbps line rate with 8b/10b encoding. That leaves about 600 MB/s of usable throughput.",
        keywords: &["6 Gbps", "8b/10b", "600 MB/s"],
        category: "storage",
        tags: &["sata", "bandwidth"],
    },
    KbEntry {
        name: "GDDR6 pin speed",
        query: "What per-pin data rate does GDDR6 reach?",
        expected_answer: "GDDR6 runs at 14 to 16 Gbps per pin in common parts, and the fastest bins reach 20 Gbps. Each device has two independent 16-bit channels and operates at 1.35 V.",
        keywords: &["16 Gbps", "20 Gbps", "16-bit", "1.35 V"],
        category: "memory",
        tags: &["gddr6", "dram", "graphics"],
    },
    KbEntry {
        name: "MIPI I3C speed",
        query: "How fast is MIPI I3C compared with I2C?",
        expected_answer: "MIPI I3C runs at 12.5 MHz in SDR mode, about 12.5 Mbps. The HDR-DDR mode roughly doubles that to 25 Mbps raw. I3C stays backward compatible with I2C devices on the same bus and adds in-band interrupts.",
        keywords: &["12.5 MHz", "SDR", "HDR-DDR", "backward compatible", "in-band interrupts"],
        category: "interfaces",
        tags: &["mipi", "i3c", "low-speed"],
    },
];

/// Words that say nothing about which entry a question means.
const STOPWORDS: &[&str] = &[
    "a", "an", "and", "are", "at", "be", "by", "can", "compared", "do", "does", "for", "how", "in",
    "is", "it", "its", "many", "much", "need", "of", "on", "or", "per", "tell", "the", "to", "use",
    "uses", "what", "when", "which", "with", "me", "about", "maximum",
];
const CJK_STOPCHARS: &str = "的是有多少什麼哪些嗎呢請問和與在為之一";

struct Indexed {
    entry: &'static KbEntry,
    exact: [String; 2],
    tokens: HashSet<String>,
}

fn index() -> &'static [Indexed] {
    static INDEX: OnceLock<Vec<Indexed>> = OnceLock::new();
    INDEX.get_or_init(|| {
        ENTRIES
            .iter()
            .map(|entry| {
                let mut tokens = tokens(entry.name);
                tokens.extend(self::tokens(entry.query));
                for k in entry.keywords {
                    tokens.extend(self::tokens(k));
                }
                Indexed {
                    entry,
                    exact: [normalise(entry.query), normalise(entry.name)],
                    tokens,
                }
            })
            .collect()
    })
}

/// The entry a question is about: an exact match (ignoring case, spaces and punctuation) on the
/// query or name first, else the entry sharing the most words (Latin) or characters (CJK), if
/// at least two and at least a third of the question's are shared.
pub fn find(question: &str) -> Option<&'static KbEntry> {
    let norm = normalise(question);
    if norm.is_empty() {
        return None;
    }
    let index = index();
    if let Some(hit) = index.iter().find(|ix| ix.exact.contains(&norm)) {
        return Some(hit.entry);
    }
    let asked = tokens(question);
    let (best, shared) = index
        .iter()
        .map(|ix| (ix, asked.iter().filter(|t| ix.tokens.contains(*t)).count()))
        .fold((None, 0), |(best, most), (ix, n)| {
            if n > most {
                (Some(ix), n)
            } else {
                (best, most)
            }
        });
    best.filter(|_| shared >= 2 && shared * 3 >= asked.len())
        .map(|ix| ix.entry)
}

fn normalise(s: &str) -> String {
    s.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Latin words (keeping `5.0`, `d-phy`, `gt/s` whole) and single CJK characters.
fn tokens(s: &str) -> HashSet<String> {
    fn flush(word: &mut String, out: &mut HashSet<String>) {
        let w = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
        if !w.is_empty() && !STOPWORDS.contains(&w) {
            out.insert(w.to_string());
        }
        word.clear();
    }
    let mut out = HashSet::new();
    let mut word = String::new();
    for c in s.chars() {
        if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '/' | '+') {
            word.push(c.to_ascii_lowercase());
        } else {
            flush(&mut word, &mut out);
            if c.is_alphabetic() && !c.is_ascii() && !CJK_STOPCHARS.contains(c) {
                out.extend(c.to_lowercase().map(String::from));
            }
        }
    }
    flush(&mut word, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has_cjk(s: &str) -> bool {
        s.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c))
    }

    #[test]
    fn entries_are_well_formed() {
        let all = entries();
        assert!(all.len() >= 20);
        assert!(all.iter().filter(|e| has_cjk(e.query)).count() >= 6);
        let mut names = HashSet::new();
        for e in all {
            assert!(names.insert(e.name), "duplicate name {}", e.name);
            assert!((3..=5).contains(&e.keywords.len()), "{}", e.name);
            for k in e.keywords {
                let found = e.expected_answer.to_lowercase().contains(&k.to_lowercase());
                assert!(
                    found,
                    "{}: keyword {k:?} not in the expected answer",
                    e.name
                );
            }
            assert!(!e.category.is_empty() && !e.tags.is_empty());
        }
    }

    #[test]
    fn every_entry_finds_itself_by_query_and_name() {
        for e in entries() {
            assert_eq!(find(e.query).map(|f| f.name), Some(e.name));
            assert_eq!(find(e.name).map(|f| f.name), Some(e.name));
            let shouted = format!("  {}!! ", e.query.to_uppercase());
            assert_eq!(find(&shouted).map(|f| f.name), Some(e.name));
        }
    }

    #[test]
    fn paraphrases_find_the_closest_entry() {
        let name = |q: &str| find(q).map(|e| e.name);
        assert_eq!(
            name("How fast is PCIe 5.0 per lane?"),
            Some("PCIe 5.0 通道速率")
        );
        assert_eq!(name("DDR5 voltage VDD"), Some("DDR5 operating voltage"));
        assert_eq!(
            name("MIPI C-PHY lane rate please"),
            Some("MIPI C-PHY lane rate")
        );
        assert_eq!(name("HDMI 2.1 最大頻寬"), Some("HDMI 2.1 頻寬"));
    }

    #[test]
    fn unrelated_questions_find_nothing() {
        for q in [
            "",
            "   ",
            "???",
            "What is the capital of France?",
            "hello",
            "今天天氣如何",
        ] {
            assert!(find(q).is_none(), "{q:?}");
        }
    }
}
