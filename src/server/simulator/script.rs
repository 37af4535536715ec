//! Which language and script a text is written in, as far as the simulated judge's `language`
//! rubric needs: Latin-script text, Japanese (any kana), Korean (any Hangul syllables), or
//! Chinese — Traditional or Simplified by which side of a table of character pairs it uses
//! more, undetermined when it uses neither. Pure; the verdict it feeds is `judge`'s.
//!
//! A text counts as Chinese (or Japanese, Korean) when it has at least as many CJK characters as
//! Latin words, so a Chinese answer quoting `4.5 Gbps` is still Chinese and an English answer
//! quoting `時脈通道` is still English.

use super::answer::is_cjk;

fn is_kana(c: char) -> bool {
    matches!(c as u32, 0x3041..=0x30ff)
}

fn is_hangul(c: char) -> bool {
    matches!(c as u32, 0x1100..=0x11ff | 0x3130..=0x318f | 0xac00..=0xd7af)
}

/// Traditional / Simplified pairs of common characters. Pairs whose simplified form is also an
/// everyday traditional character (后, 范, 准, 布, 系, 里, 面, 干, 只, 台…) are left out: they
/// would make Traditional text look Simplified.
const PAIRS: &[(char, char)] = &[
    ('這', '这'),
    ('個', '个'),
    ('們', '们'),
    ('來', '来'),
    ('時', '时'),
    ('說', '说'),
    ('為', '为'),
    ('會', '会'),
    ('對', '对'),
    ('與', '与'),
    ('發', '发'),
    ('國', '国'),
    ('學', '学'),
    ('體', '体'),
    ('頻', '频'),
    ('號', '号'),
    ('寬', '宽'),
    ('傳', '传'),
    ('輸', '输'),
    ('資', '资'),
    ('訊', '讯'),
    ('電', '电'),
    ('應', '应'),
    ('開', '开'),
    ('關', '关'),
    ('無', '无'),
    ('線', '线'),
    ('網', '网'),
    ('數', '数'),
    ('據', '据'),
    ('計', '计'),
    ('設', '设'),
    ('備', '备'),
    ('問', '问'),
    ('題', '题'),
    ('經', '经'),
    ('過', '过'),
    ('還', '还'),
    ('進', '进'),
    ('實', '实'),
    ('現', '现'),
    ('長', '长'),
    ('點', '点'),
    ('級', '级'),
    ('機', '机'),
    ('處', '处'),
    ('壓', '压'),
    ('單', '单'),
    ('雙', '双'),
    ('條', '条'),
    ('種', '种'),
    ('圍', '围'),
    ('組', '组'),
    ('構', '构'),
    ('麼', '么'),
    ('幾', '几'),
    ('義', '义'),
    ('協', '协'),
    ('議', '议'),
    ('視', '视'),
    ('記', '记'),
    ('憶', '忆'),
    ('驅', '驱'),
    ('動', '动'),
    ('帶', '带'),
    ('寫', '写'),
    ('讀', '读'),
    ('類', '类'),
    ('質', '质'),
    ('從', '从'),
    ('轉', '转'),
    ('換', '换'),
    ('較', '较'),
    ('僅', '仅'),
    ('測', '测'),
    ('試', '试'),
    ('儲', '储'),
    ('連', '连'),
    ('結', '结'),
    ('變', '变'),
    ('認', '认'),
    ('證', '证'),
    ('錯', '错'),
    ('誤', '误'),
    ('將', '将'),
    ('當', '当'),
    ('礎', '础'),
    ('區', '区'),
    ('塊', '块'),
    ('層', '层'),
    ('顯', '显'),
    ('導', '导'),
    ('緩', '缓'),
    ('腳', '脚'),
    ('內', '内'),
    ('兩', '两'),
    ('萬', '万'),
    ('億', '亿'),
    ('編', '编'),
    ('碼', '码'),
    ('調', '调'),
    ('節', '节'),
    ('熱', '热'),
    ('溫', '温'),
    ('門', '门'),
    ('樣', '样'),
    ('標', '标'),
    ('規', '规'),
    ('術', '术'),
    ('產', '产'),
    ('廠', '厂'),
    ('業', '业'),
    ('專', '专'),
    ('頁', '页'),
    ('載', '载'),
    ('氣', '气'),
    ('聯', '联'),
    ('鐘', '钟'),
    ('鍵', '键'),
    ('錄', '录'),
    ('讓', '让'),
    ('給', '给'),
    ('邏', '逻'),
    ('輯', '辑'),
    ('腦', '脑'),
    ('軟', '软'),
    ('圖', '图'),
    ('書', '书'),
    ('畫', '画'),
    ('總', '总'),
    ('統', '统'),
    ('況', '况'),
    ('狀', '状'),
    ('態', '态'),
    ('獨', '独'),
    ('際', '际'),
    ('檢', '检'),
    ('優', '优'),
    ('勢', '势'),
    ('擺', '摆'),
    ('脈', '脉'),
    ('異', '异'),
    ('詳', '详'),
    ('細', '细'),
    ('請', '请'),
    ('參', '参'),
    ('響', '响'),
    ('約', '约'),
    ('達', '达'),
    ('選', '选'),
    ('擇', '择'),
    ('間', '间'),
    ('頭', '头'),
    ('聲', '声'),
    ('語', '语'),
    ('簡', '简'),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Script {
    /// No letters at all (empty, or only digits and signs).
    None,
    /// Latin-script words and no more CJK than that (English, in practice).
    Latin,
    Japanese,
    Korean,
    TraditionalChinese,
    SimplifiedChinese,
    /// Chinese whose characters are the same in both scripts.
    Chinese,
}

impl Script {
    pub(super) fn name(self) -> &'static str {
        match self {
            Script::None => "no language (it has no words)",
            Script::Latin => "English (Latin script)",
            Script::Japanese => "Japanese",
            Script::Korean => "Korean",
            Script::TraditionalChinese => "Traditional Chinese",
            Script::SimplifiedChinese => "Simplified Chinese",
            Script::Chinese => "Chinese",
        }
    }

    fn is_chinese(self) -> bool {
        matches!(
            self,
            Script::TraditionalChinese | Script::SimplifiedChinese | Script::Chinese
        )
    }

    /// Whether an answer in `self` answers a question in `question`'s language and script.
    pub(super) fn answers(self, question: Script) -> bool {
        match question {
            Script::None => true,
            Script::TraditionalChinese => {
                matches!(self, Script::TraditionalChinese | Script::Chinese)
            }
            Script::SimplifiedChinese => {
                matches!(self, Script::SimplifiedChinese | Script::Chinese)
            }
            Script::Chinese => self.is_chinese(),
            Script::Latin | Script::Japanese | Script::Korean => self == question,
        }
    }
}

/// What `text` is written in, with up to three characters that show it (the Simplified or
/// Traditional forms that decided a Chinese text).
pub(super) fn script_of(text: &str) -> (Script, Vec<char>) {
    let (mut cjk, mut kana, mut hangul) = (0usize, 0usize, 0usize);
    let (mut traditional, mut simplified) = (Vec::new(), Vec::new());
    for c in text.chars() {
        if is_kana(c) {
            kana += 1;
        } else if is_hangul(c) {
            hangul += 1;
        } else if is_cjk(c) && c.is_alphabetic() {
            cjk += 1;
        }
        if PAIRS.iter().any(|(t, _)| *t == c) {
            traditional.push(c);
        } else if PAIRS.iter().any(|(_, s)| *s == c) {
            simplified.push(c);
        }
    }
    let east_asian = cjk + kana + hangul;
    let latin_words = text
        .split(|c: char| !c.is_alphanumeric() || is_cjk(c) || is_kana(c) || is_hangul(c))
        .filter(|w| w.chars().any(char::is_alphabetic))
        .count();
    let shown = |v: Vec<char>| {
        let mut first: Vec<char> = Vec::new();
        for c in v {
            if first.len() < 3 && !first.contains(&c) {
                first.push(c);
            }
        }
        first
    };
    if east_asian == 0 && latin_words == 0 {
        return (Script::None, Vec::new());
    }
    if east_asian < latin_words {
        return (Script::Latin, Vec::new());
    }
    if kana >= 2 {
        return (Script::Japanese, Vec::new());
    }
    if hangul >= 2 {
        return (Script::Korean, Vec::new());
    }
    match traditional.len().cmp(&simplified.len()) {
        std::cmp::Ordering::Greater => (Script::TraditionalChinese, shown(traditional)),
        std::cmp::Ordering::Less => (Script::SimplifiedChinese, shown(simplified)),
        std::cmp::Ordering::Equal => (Script::Chinese, Vec::new()),
    }
}

/// `text` with every Traditional character of the table in its Simplified form (tests use it
/// to make a Simplified answer out of a Traditional one).
#[cfg(test)]
pub(super) fn to_simplified(text: &str) -> String {
    text.chars()
        .map(|c| PAIRS.iter().find(|(t, _)| *t == c).map_or(c, |(_, s)| *s))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pair_table_is_well_formed() {
        for (i, (t, s)) in PAIRS.iter().enumerate() {
            assert!(is_cjk(*t) && is_cjk(*s) && t != s, "{t}/{s}");
            // A character is on one side of the table, once.
            assert!(!PAIRS.iter().any(|(t2, s2)| s2 == t || t2 == s), "{t}/{s}");
            assert!(
                !PAIRS[i + 1..].iter().any(|(t2, s2)| t2 == t || s2 == s),
                "{t}/{s} twice"
            );
        }
        assert!(PAIRS.len() >= 140, "{}", PAIRS.len());
    }

    #[test]
    fn scripts_of_questions_and_answers() {
        let script = |t: &str| script_of(t).0;
        assert_eq!(
            script("USB4 的最大頻寬是多少？"),
            Script::TraditionalChinese
        );
        assert_eq!(script("USB4 的最大频宽是多少？"), Script::SimplifiedChinese);
        assert_eq!(
            script("MIPI D-PHY 的基本參數有哪些？"),
            Script::TraditionalChinese
        );
        assert_eq!(script("最大是多少"), Script::Chinese);
        assert_eq!(
            script("What is the maximum bandwidth of USB4?"),
            Script::Latin
        );
        assert_eq!(
            script("The 時脈通道 runs at 4.5 Gbps per lane."),
            Script::Latin
        );
        assert_eq!(
            script("MIPI D-PHY v2.5 每條資料通道最高速率為 4.5 Gbps。"),
            Script::TraditionalChinese
        );
        assert_eq!(script("USB4の最大帯域幅はいくつですか"), Script::Japanese);
        assert_eq!(script("USB4의 최대 대역폭은?"), Script::Korean);
        assert_eq!(script("4.5 / 2 = 2.25"), Script::None);
        assert_eq!(
            script_of("这个频宽说的是"),
            (Script::SimplifiedChinese, vec!['这', '个', '频'])
        );
    }

    #[test]
    fn a_traditional_question_wants_a_traditional_answer() {
        let q = Script::TraditionalChinese;
        assert!(Script::TraditionalChinese.answers(q));
        assert!(Script::Chinese.answers(q));
        assert!(!Script::SimplifiedChinese.answers(q));
        assert!(!Script::Latin.answers(q));
        assert!(!Script::Japanese.answers(q));
        assert!(Script::Latin.answers(Script::Latin));
        assert!(!Script::TraditionalChinese.answers(Script::Latin));
        assert!(!Script::TraditionalChinese.answers(Script::SimplifiedChinese));
    }

    #[test]
    fn simplifying_maps_every_pair() {
        assert_eq!(to_simplified("這個頻寬說的是資料"), "这个频宽说的是资料");
    }
}
