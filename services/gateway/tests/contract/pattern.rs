//! The subset of regular expressions the document's `pattern`s use, enough
//! to generate strings that match one and to find a character that breaks
//! it: anchors, literals, `[...]` classes (ranges, `\d \w \s \S \p{L}
//! \p{N}`), groups with `|`, and the quantifiers `? * + {m} {m,} {m,n}`.

use crate::rng::Rng;

#[derive(Debug, Clone)]
enum ClassItem {
    Range(char, char),
    Digit,
    Word,
    Space,
    NotSpace,
    Letter,
    Number,
}

#[derive(Debug, Clone)]
struct Class {
    negated: bool,
    items: Vec<ClassItem>,
}

#[derive(Debug, Clone)]
enum Atom {
    Class(Class),
    Group(Vec<Vec<Item>>),
}

#[derive(Debug, Clone)]
struct Item {
    atom: Atom,
    min: u32,
    max: u32,
}

/// A parsed pattern. Unanchored patterns are generated as if anchored
/// (a string matching the whole also contains a match).
#[derive(Debug, Clone)]
pub struct Pattern {
    seq: Vec<Item>,
    anchored: bool,
}

/// Letters beyond ASCII, so length limits are tested in characters.
const LETTERS: &[char] = &['a', 'k', 'z', 'B', 'Q', 'é', 'ß', 'ñ', 'ж', '日'];
/// Characters tried, in order, as the one that breaks a pattern.
const BREAKERS: &[char] = &['~', '!', '%', '^', '`', '|', '<', '>', ' ', '*', '?', '@'];

impl ClassItem {
    fn contains(&self, c: char) -> bool {
        match self {
            Self::Range(a, b) => (*a..=*b).contains(&c),
            Self::Digit => c.is_ascii_digit(),
            Self::Word => c.is_ascii_alphanumeric() || c == '_',
            Self::Space => c.is_whitespace(),
            Self::NotSpace => !c.is_whitespace(),
            Self::Letter => c.is_alphabetic(),
            Self::Number => c.is_numeric(),
        }
    }

    fn sample(&self, rng: &mut Rng) -> char {
        match self {
            Self::Range(a, b) => {
                char::from_u32(rng.range(i128::from(*a as u32), i128::from(*b as u32)) as u32)
                    .unwrap_or(*a)
            }
            Self::Digit | Self::Number => char::from(b'0' + rng.below(10) as u8),
            Self::Word => *rng.pick(&['a', 'x', 'Z', '0', '7', '_']),
            Self::Space => ' ',
            Self::NotSpace | Self::Letter => *rng.pick(LETTERS),
        }
    }
}

impl Class {
    fn contains(&self, c: char) -> bool {
        self.items.iter().any(|i| i.contains(c)) != self.negated
    }

    fn sample(&self, rng: &mut Rng) -> char {
        if self.negated {
            let pool: Vec<char> = LETTERS
                .iter()
                .chain(BREAKERS)
                .copied()
                .chain('0'..='9')
                .filter(|c| self.contains(*c))
                .collect();
            return *rng.pick(&pool);
        }
        rng.pick(&self.items).clone().sample(rng)
    }
}

struct Parser<'a> {
    chars: std::iter::Peekable<std::str::Chars<'a>>,
}

impl Parser<'_> {
    fn alternatives(&mut self) -> Result<Vec<Vec<Item>>, String> {
        let mut alts = vec![Vec::new()];
        while let Some(&c) = self.chars.peek() {
            match c {
                ')' | '$' => break,
                '|' => {
                    self.chars.next();
                    alts.push(Vec::new());
                }
                _ => {
                    let atom = self.atom()?;
                    let (min, max) = self.quantifier()?;
                    alts.last_mut().expect("one").push(Item { atom, min, max });
                }
            }
        }
        Ok(alts)
    }

    fn atom(&mut self) -> Result<Atom, String> {
        match self.chars.next().ok_or("unexpected end")? {
            '[' => self.class().map(Atom::Class),
            '(' => {
                let alts = self.alternatives()?;
                if self.chars.next() != Some(')') {
                    return Err("unclosed group".into());
                }
                Ok(Atom::Group(alts))
            }
            '\\' => self.escape().map(|item| {
                Atom::Class(Class {
                    negated: false,
                    items: vec![item],
                })
            }),
            '.' | '*' | '+' | '?' | '{' => Err("unsupported construct".into()),
            c => Ok(Atom::Class(Class {
                negated: false,
                items: vec![ClassItem::Range(c, c)],
            })),
        }
    }

    fn escape(&mut self) -> Result<ClassItem, String> {
        Ok(match self.chars.next().ok_or("dangling escape")? {
            'd' => ClassItem::Digit,
            'w' => ClassItem::Word,
            's' => ClassItem::Space,
            'S' => ClassItem::NotSpace,
            'p' => {
                let name: String = self.chars.by_ref().take_while(|c| *c != '}').collect();
                match name.trim_start_matches('{') {
                    "L" => ClassItem::Letter,
                    "N" => ClassItem::Number,
                    other => return Err(format!("unsupported class \\p{{{other}}}")),
                }
            }
            c if c.is_ascii_alphanumeric() => return Err(format!("unsupported escape \\{c}")),
            c => ClassItem::Range(c, c),
        })
    }

    fn class(&mut self) -> Result<Class, String> {
        let negated = self.chars.next_if_eq(&'^').is_some();
        let mut items = Vec::new();
        loop {
            let item = match self.chars.next().ok_or("unclosed class")? {
                ']' => break,
                '\\' => self.escape()?,
                c => {
                    let is_range = self.chars.peek() == Some(&'-')
                        && self.chars.clone().nth(1).is_some_and(|n| n != ']');
                    if is_range {
                        self.chars.next();
                        let end = self.chars.next().ok_or("bad range")?;
                        ClassItem::Range(c, end)
                    } else {
                        ClassItem::Range(c, c)
                    }
                }
            };
            items.push(item);
        }
        Ok(Class { negated, items })
    }

    fn quantifier(&mut self) -> Result<(u32, u32), String> {
        const OPEN: u32 = 8;
        Ok(match self.chars.peek() {
            Some('?') => (0, 1),
            Some('*') => (0, OPEN),
            Some('+') => (1, OPEN),
            Some('{') => {
                self.chars.next();
                let body: String = self.chars.by_ref().take_while(|c| *c != '}').collect();
                let (lo, hi) = body.split_once(',').unwrap_or((&body, &body));
                let lo: u32 = lo.trim().parse().map_err(|_| "bad quantifier")?;
                let hi: u32 = if hi.trim().is_empty() {
                    lo + OPEN
                } else {
                    hi.trim().parse().map_err(|_| "bad quantifier")?
                };
                return Ok((lo, hi));
            }
            _ => return Ok((1, 1)),
        })
        .inspect(|_| {
            self.chars.next();
        })
    }
}

impl Pattern {
    pub fn parse(source: &str) -> Result<Self, String> {
        let mut parser = Parser {
            chars: source.chars().peekable(),
        };
        let anchored = parser.chars.next_if_eq(&'^').is_some();
        let alts = parser.alternatives()?;
        let end = parser.chars.next_if_eq(&'$').is_some();
        if parser.chars.next().is_some() || anchored != end {
            return Err(format!("unsupported pattern {source:?}"));
        }
        let seq = if alts.len() == 1 {
            alts.into_iter().next().expect("one")
        } else {
            vec![Item {
                atom: Atom::Group(alts),
                min: 1,
                max: 1,
            }]
        };
        Ok(Self { seq, anchored })
    }

    pub fn anchored(&self) -> bool {
        self.anchored
    }

    /// A matching string; repetitions lean to their bounds.
    pub fn generate(&self, rng: &mut Rng) -> String {
        let mut out = String::new();
        gen_seq(&self.seq, rng, &mut out);
        out
    }

    /// A character no part of the pattern accepts (so inserting it breaks
    /// an anchored pattern), if there is one.
    pub fn breaker(&self) -> Option<char> {
        BREAKERS.iter().copied().find(|c| !mentions(&self.seq, *c))
    }
}

fn gen_seq(seq: &[Item], rng: &mut Rng, out: &mut String) {
    for item in seq {
        let n = match rng.below(3) {
            0 => item.min,
            1 => item.max,
            _ => rng.range(i128::from(item.min), i128::from(item.max)) as u32,
        };
        for _ in 0..n {
            match &item.atom {
                Atom::Class(class) => out.push(class.sample(rng)),
                Atom::Group(alts) => gen_seq(rng.pick(alts).as_slice(), rng, out),
            }
        }
    }
}

fn mentions(seq: &[Item], c: char) -> bool {
    seq.iter().any(|item| match &item.atom {
        Atom::Class(class) => class.contains(c),
        Atom::Group(alts) => alts.iter().any(|alt| mentions(alt, c)),
    })
}
