//! Printable one-page PDF tickets.
//!
//! The PDF is written by hand: one A4 page, three of the standard 14 fonts (no embedding), the
//! text in WinAnsi encoding, the QR code drawn as filled vector rectangles so it prints sharp at
//! any resolution, and a classic cross-reference table. That is a few kilobytes per ticket and a
//! few microseconds of work, where PDF crates pull in font shaping and image stacks we do not use.
//!
//! Limitation: the standard fonts cover WinAnsi (Latin-1 plus a few typographic marks) only.
//! Characters outside it (Devanagari, CJK, emoji, ...) print as `?`; showing them needs an
//! embedded Unicode font, a deliberate later step.

use chrono::{DateTime, FixedOffset};
use schemas::TicketId;

use crate::qr::{QUIET_ZONE_MODULES, RenderError, TicketQr};

/// A4 width in points.
const PAGE_WIDTH_PT: f64 = 595.0;
/// A4 height in points.
const PAGE_HEIGHT_PT: f64 = 842.0;
/// Left and right text margin.
const MARGIN_PT: f64 = 56.0;
/// Side of the QR symbol including its quiet zone: 3 inches, easy for any gate scanner.
const QR_SIDE_PT: f64 = 216.0;
/// Courier glyph advance in thousandths of an em (every glyph).
const COURIER_ADVANCE: u32 = 600;

/// Everything printed on a ticket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TicketView {
    /// Event title (film, concert, match).
    pub event_title: String,
    /// Venue name.
    pub venue_name: String,
    /// Start of the show; printed in the given offset (`+00:00` prints as `UTC`).
    pub show_time: DateTime<FixedOffset>,
    /// Section id (`"A"`, `"BALC"`).
    pub section: String,
    /// Section display name.
    pub section_name: String,
    /// Row label.
    pub row: String,
    /// Seat number within the row.
    pub number: u32,
    /// The ticket.
    pub ticket_id: TicketId,
    /// The signed code, printed under the QR for manual entry and encoded in it.
    pub code: String,
}

/// The three artifacts of one ticket, rendered from a single QR encoding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RenderedTicket {
    /// QR as PNG at [`DEFAULT_MODULE_PX`](crate::DEFAULT_MODULE_PX).
    pub qr_png: Vec<u8>,
    /// QR as SVG.
    pub qr_svg: String,
    /// The printable one-page PDF.
    pub pdf: Vec<u8>,
}

impl RenderedTicket {
    /// Encodes `view.code` once and draws the PNG, the SVG and the PDF from it.
    pub fn render(view: &TicketView) -> Result<RenderedTicket, RenderError> {
        let qr = TicketQr::new(&view.code)?;
        Ok(RenderedTicket {
            qr_png: qr.to_png(crate::qr::DEFAULT_MODULE_PX)?,
            qr_svg: qr.to_svg(),
            pdf: pdf_with_qr(view, &qr),
        })
    }
}

/// The printable one-page PDF of `view`.
pub fn render_pdf(view: &TicketView) -> Result<Vec<u8>, RenderError> {
    let qr = TicketQr::new(&view.code)?;
    Ok(pdf_with_qr(view, &qr))
}

/// Fonts of the page, by resource name.
#[derive(Clone, Copy)]
enum Font {
    Regular,
    Bold,
    Mono,
}

impl Font {
    fn resource(self) -> &'static str {
        match self {
            Font::Regular => "F1",
            Font::Bold => "F2",
            Font::Mono => "F3",
        }
    }

    /// Advance of WinAnsi byte `byte` in thousandths of an em. Bytes outside ASCII use a wide
    /// Latin capital's advance, so wrapping errs towards shorter lines.
    fn advance(self, byte: u8) -> u32 {
        let ascii = |table: &[u16; 95]| match byte {
            32..=126 => u32::from(table[usize::from(byte - 32)]),
            _ => 722,
        };
        match self {
            Font::Regular => ascii(&HELVETICA_ADVANCES),
            Font::Bold => ascii(&HELVETICA_BOLD_ADVANCES),
            Font::Mono => COURIER_ADVANCE,
        }
    }

    fn width_pt(self, text: &[u8], size_pt: f64) -> f64 {
        let units: u32 = text.iter().map(|b| self.advance(*b)).sum();
        f64::from(units) * size_pt / 1000.0
    }
}

/// Builds the page content and wraps it in a PDF file.
fn pdf_with_qr(view: &TicketView, qr: &TicketQr) -> Vec<u8> {
    let mut page = Page::default();
    let text_width = PAGE_WIDTH_PT - 2.0 * MARGIN_PT;
    page.cursor_pt = PAGE_HEIGHT_PT - 64.0;

    page.line(Font::Bold, 10.0, b"ADMIT ONE", Align::Left);
    page.gap(14.0);
    page.paragraph(
        Font::Bold,
        24.0,
        &win_ansi(&view.event_title),
        text_width,
        3,
    );
    page.gap(6.0);
    page.paragraph(
        Font::Regular,
        14.0,
        &win_ansi(&view.venue_name),
        text_width,
        2,
    );
    page.line(
        Font::Regular,
        14.0,
        &win_ansi(&show_time_text(&view.show_time)),
        Align::Left,
    );
    page.gap(18.0);
    let section = format!("Section {} ({})", view.section_name, view.section);
    page.paragraph(Font::Regular, 14.0, &win_ansi(&section), text_width, 2);
    let seat = format!("Row {} \u{b7} Seat {}", view.row, view.number);
    page.paragraph(Font::Bold, 28.0, &win_ansi(&seat), text_width, 2);
    page.gap(16.0);

    page.qr(qr);
    page.gap(10.0);
    let code_chars_per_line = (text_width / (f64::from(COURIER_ADVANCE) * 9.0 / 1000.0)) as usize;
    for chunk in win_ansi(&view.code).chunks(code_chars_per_line.max(1)) {
        page.line(Font::Mono, 9.0, chunk, Align::Center);
    }
    page.gap(8.0);
    page.line(
        Font::Regular,
        10.0,
        format!("Ticket {}", view.ticket_id).as_bytes(),
        Align::Center,
    );
    page.gap(20.0);
    page.line(
        Font::Regular,
        9.0,
        b"Show this code at the gate. Each ticket admits one person once.",
        Align::Center,
    );

    write_document(&page.content, &format!("Ticket {}", view.ticket_id))
}

/// `Sat 14 Mar 2026, 19:30 UTC` or `... 19:30 (UTC+05:30)`.
fn show_time_text(show_time: &DateTime<FixedOffset>) -> String {
    let local = show_time.format("%a %-d %b %Y, %H:%M");
    if show_time.offset().local_minus_utc() == 0 {
        format!("{local} UTC")
    } else {
        format!("{local} (UTC{})", show_time.format("%:z"))
    }
}

#[derive(Clone, Copy)]
enum Align {
    Left,
    Center,
}

/// A page content stream being laid out top to bottom.
#[derive(Default)]
struct Page {
    content: Vec<u8>,
    /// Baseline of the next line, in points from the bottom.
    cursor_pt: f64,
}

impl Page {
    fn gap(&mut self, points: f64) {
        self.cursor_pt -= points;
    }

    /// One line of WinAnsi text; the cursor moves down by 1.25x the size.
    fn line(&mut self, font: Font, size_pt: f64, text: &[u8], align: Align) {
        self.cursor_pt -= size_pt;
        let x = match align {
            Align::Left => MARGIN_PT,
            Align::Center => (PAGE_WIDTH_PT - font.width_pt(text, size_pt)) / 2.0,
        };
        let op = format!(
            "BT /{} {} Tf {} {} Td ",
            font.resource(),
            num(size_pt),
            num(x),
            num(self.cursor_pt)
        );
        self.content.extend_from_slice(op.as_bytes());
        push_literal(&mut self.content, text);
        self.content.extend_from_slice(b" Tj ET\n");
        self.cursor_pt -= size_pt * 0.25;
    }

    /// Text wrapped at word boundaries to `width_pt`, at most `max_lines` (the last one cut with
    /// `...` if the text is longer).
    fn paragraph(
        &mut self,
        font: Font,
        size_pt: f64,
        text: &[u8],
        width_pt: f64,
        max_lines: usize,
    ) {
        for line in wrap(font, size_pt, text, width_pt, max_lines) {
            self.line(font, size_pt, &line, Align::Left);
        }
    }

    /// The QR symbol, centered, top edge (with quiet zone) at the cursor: black unit rectangles in
    /// module coordinates under a matrix that scales modules to points and flips y.
    fn qr(&mut self, qr: &TicketQr) {
        let side_modules = qr.width_modules() + 2 * QUIET_ZONE_MODULES;
        let module_pt = QR_SIDE_PT / side_modules as f64;
        let quiet_pt = module_pt * QUIET_ZONE_MODULES as f64;
        let left = (PAGE_WIDTH_PT - QR_SIDE_PT) / 2.0 + quiet_pt;
        let top = self.cursor_pt - quiet_pt;
        let matrix = format!(
            "q 0 g {} 0 0 {} {} {} cm\n",
            num(module_pt),
            num(-module_pt),
            num(left),
            num(top)
        );
        self.content.extend_from_slice(matrix.as_bytes());
        for (x, y, len) in qr.dark_runs() {
            self.content
                .extend_from_slice(format!("{x} {y} {len} 1 re\n").as_bytes());
        }
        self.content.extend_from_slice(b"f Q\n");
        self.cursor_pt -= QR_SIDE_PT;
    }
}

/// Greedy word wrap of WinAnsi bytes.
fn wrap(font: Font, size_pt: f64, text: &[u8], width_pt: f64, max_lines: usize) -> Vec<Vec<u8>> {
    let fits = |line: &[u8]| font.width_pt(line, size_pt) <= width_pt;
    let mut lines: Vec<Vec<u8>> = Vec::new();
    let mut current: Vec<u8> = Vec::new();
    for word in text.split(|b| *b == b' ').filter(|w| !w.is_empty()) {
        let mut candidate = current.clone();
        if !candidate.is_empty() {
            candidate.push(b' ');
        }
        candidate.extend_from_slice(word);
        if fits(&candidate) {
            current = candidate;
            continue;
        }
        if !current.is_empty() {
            lines.push(std::mem::take(&mut current));
        }
        // A word wider than the line is broken wherever it must be.
        for &byte in word {
            current.push(byte);
            if !fits(&current) {
                current.pop();
                lines.push(std::mem::replace(&mut current, vec![byte]));
            }
        }
    }
    if !current.is_empty() {
        lines.push(current);
    }
    truncate_lines(font, size_pt, lines, width_pt, max_lines)
}

/// Keeps `max_lines` lines, marking a cut with `...` on the last kept one.
fn truncate_lines(
    font: Font,
    size_pt: f64,
    mut lines: Vec<Vec<u8>>,
    width_pt: f64,
    max_lines: usize,
) -> Vec<Vec<u8>> {
    if lines.len() <= max_lines {
        return lines;
    }
    lines.truncate(max_lines);
    if let Some(last) = lines.last_mut() {
        while !last.is_empty()
            && font.width_pt(&[last.as_slice(), b"..."].concat(), size_pt) > width_pt
        {
            last.pop();
        }
        last.extend_from_slice(b"...");
    }
    lines
}

/// `text` in WinAnsiEncoding: Latin-1 and the typographic marks of 0x80-0x9F map to their byte,
/// control characters to spaces, anything else to `?`.
fn win_ansi(text: &str) -> Vec<u8> {
    text.chars().map(win_ansi_byte).collect()
}

fn win_ansi_byte(c: char) -> u8 {
    match c {
        ' '..='~' | '\u{A0}'..='\u{FF}' => c as u8,
        c if c.is_control() || c.is_whitespace() => b' ',
        c => WIN_ANSI_HIGH
            .iter()
            .find(|(mapped, _)| *mapped == c)
            .map_or(b'?', |(_, byte)| *byte),
    }
}

/// The WinAnsi bytes 0x80-0x9F that are not Latin-1.
const WIN_ANSI_HIGH: [(char, u8); 27] = [
    ('€', 0x80),
    ('‚', 0x82),
    ('ƒ', 0x83),
    ('„', 0x84),
    ('…', 0x85),
    ('†', 0x86),
    ('‡', 0x87),
    ('ˆ', 0x88),
    ('‰', 0x89),
    ('Š', 0x8A),
    ('‹', 0x8B),
    ('Œ', 0x8C),
    ('Ž', 0x8E),
    ('‘', 0x91),
    ('’', 0x92),
    ('“', 0x93),
    ('”', 0x94),
    ('•', 0x95),
    ('–', 0x96),
    ('—', 0x97),
    ('˜', 0x98),
    ('™', 0x99),
    ('š', 0x9A),
    ('›', 0x9B),
    ('œ', 0x9C),
    ('ž', 0x9E),
    ('Ÿ', 0x9F),
];

/// A PDF literal string: parentheses and backslash escaped, non-ASCII bytes as octal escapes so
/// the content stream stays 7-bit.
fn push_literal(out: &mut Vec<u8>, text: &[u8]) {
    out.push(b'(');
    for &byte in text {
        match byte {
            b'(' | b')' | b'\\' => out.extend_from_slice(&[b'\\', byte]),
            0x20..=0x7e => out.push(byte),
            _ => out.extend_from_slice(format!("\\{byte:03o}").as_bytes()),
        }
    }
    out.push(b')');
}

/// A number with at most three decimals and no trailing zeros (PDF has no exponent notation).
fn num(value: f64) -> String {
    let text = format!("{value:.3}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    if text == "-0" {
        "0".to_owned()
    } else {
        text.to_owned()
    }
}

/// Object numbers of the fixed document structure.
const CATALOG: usize = 1;
const PAGES: usize = 2;
const PAGE: usize = 3;
const CONTENTS: usize = 4;
const FONT_REGULAR: usize = 5;
const FONT_BOLD: usize = 6;
const FONT_MONO: usize = 7;
const INFO: usize = 8;
const OBJECT_COUNT: usize = 8;

/// The whole file: header, the eight objects, the cross-reference table with each object's byte
/// offset, and the trailer pointing at it.
fn write_document(content: &[u8], title: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(content.len() + 2048);
    // The comment of high bytes tells transfer tools the file is binary.
    out.extend_from_slice(b"%PDF-1.4\n%\xE2\xE3\xCF\xD3\n");
    let mut offsets = [0usize; OBJECT_COUNT + 1];
    let mut object = |out: &mut Vec<u8>, number: usize, body: &[u8]| {
        offsets[number] = out.len();
        out.extend_from_slice(format!("{number} 0 obj\n").as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\nendobj\n");
    };
    object(
        &mut out,
        CATALOG,
        format!("<< /Type /Catalog /Pages {PAGES} 0 R >>").as_bytes(),
    );
    object(
        &mut out,
        PAGES,
        format!("<< /Type /Pages /Kids [{PAGE} 0 R] /Count 1 >>").as_bytes(),
    );
    let page = format!(
        "<< /Type /Page /Parent {PAGES} 0 R /MediaBox [0 0 {} {}] \
         /Resources << /Font << /F1 {FONT_REGULAR} 0 R /F2 {FONT_BOLD} 0 R /F3 {FONT_MONO} 0 R >> >> \
         /Contents {CONTENTS} 0 R >>",
        num(PAGE_WIDTH_PT),
        num(PAGE_HEIGHT_PT)
    );
    object(&mut out, PAGE, page.as_bytes());
    let mut stream = format!("<< /Length {} >>\nstream\n", content.len()).into_bytes();
    stream.extend_from_slice(content);
    stream.extend_from_slice(b"\nendstream");
    object(&mut out, CONTENTS, &stream);
    for (number, base_font) in [
        (FONT_REGULAR, "Helvetica"),
        (FONT_BOLD, "Helvetica-Bold"),
        (FONT_MONO, "Courier"),
    ] {
        let font = format!(
            "<< /Type /Font /Subtype /Type1 /BaseFont /{base_font} /Encoding /WinAnsiEncoding >>"
        );
        object(&mut out, number, font.as_bytes());
    }
    let mut info = b"<< /Producer (boxoffice) /Title ".to_vec();
    push_literal(&mut info, &win_ansi(title));
    info.extend_from_slice(b" >>");
    object(&mut out, INFO, &info);
    write_xref_and_trailer(&mut out, &offsets);
    out
}

/// Cross-reference entries are exactly 20 bytes each (`oooooooooo ggggg n\r\n`), which is what
/// lets a reader seek to any object.
fn write_xref_and_trailer(out: &mut Vec<u8>, offsets: &[usize; OBJECT_COUNT + 1]) {
    let xref_offset = out.len();
    out.extend_from_slice(format!("xref\n0 {}\n", OBJECT_COUNT + 1).as_bytes());
    out.extend_from_slice(b"0000000000 65535 f\r\n");
    for offset in &offsets[1..] {
        out.extend_from_slice(format!("{offset:010} 00000 n\r\n").as_bytes());
    }
    let trailer = format!(
        "trailer\n<< /Size {} /Root {CATALOG} 0 R /Info {INFO} 0 R >>\nstartxref\n{xref_offset}\n%%EOF\n",
        OBJECT_COUNT + 1
    );
    out.extend_from_slice(trailer.as_bytes());
}

/// Helvetica advances for ASCII 32..=126 (Adobe's standard font metrics).
const HELVETICA_ADVANCES: [u16; 95] = [
    278, 278, 355, 556, 556, 889, 667, 191, 333, 333, 389, 584, 278, 333, 278,
    278, // space../
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 278, 278, 584, 584, 584, 556, // 0..?
    1015, 667, 667, 722, 722, 667, 611, 778, 722, 278, 500, 667, 556, 833, 722, 778, // @..O
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 278, 278, 278, 469, 556, // P.._
    333, 556, 556, 500, 556, 556, 278, 556, 556, 222, 222, 500, 222, 833, 556, 556, // `..o
    556, 556, 333, 500, 278, 556, 500, 722, 500, 500, 500, 334, 260, 334, 584, // p..~
];

/// Helvetica-Bold advances for ASCII 32..=126.
const HELVETICA_BOLD_ADVANCES: [u16; 95] = [
    278, 333, 474, 556, 556, 889, 722, 238, 333, 333, 389, 584, 278, 333, 278,
    278, // space../
    556, 556, 556, 556, 556, 556, 556, 556, 556, 556, 333, 333, 584, 584, 584, 611, // 0..?
    975, 722, 722, 722, 722, 667, 611, 778, 722, 278, 556, 722, 611, 833, 722, 778, // @..O
    667, 778, 722, 667, 611, 722, 667, 944, 667, 667, 611, 333, 278, 333, 584, 556, // P.._
    333, 556, 611, 556, 611, 556, 333, 611, 611, 278, 278, 556, 278, 889, 611, 611, // `..o
    611, 611, 389, 556, 333, 611, 556, 778, 556, 556, 500, 389, 280, 389, 584, // p..~
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_have_no_exponent_and_no_trailing_zeros() {
        assert_eq!(num(595.0), "595");
        assert_eq!(num(0.5), "0.5");
        assert_eq!(num(4.408163), "4.408");
        assert_eq!(num(-4.408163), "-4.408");
        assert_eq!(num(-0.0001), "0");
        assert_eq!(num(1e-9), "0");
    }

    #[test]
    fn text_maps_to_win_ansi_bytes() {
        assert_eq!(win_ansi("Aé€–™"), vec![b'A', 0xE9, 0x80, 0x96, 0x99]);
        assert_eq!(win_ansi("a\tb\nc"), b"a b c".to_vec());
        assert_eq!(win_ansi("東京 ok"), b"?? ok".to_vec());
    }

    #[test]
    fn literals_escape_delimiters_and_high_bytes() {
        let mut out = Vec::new();
        push_literal(&mut out, b"a(b)c\\d\xE9\n");
        assert_eq!(out, b"(a\\(b\\)c\\\\d\\351\\012)".to_vec());
    }

    #[test]
    fn wrapping_fits_every_line_and_breaks_overlong_words() {
        let text = format!("short words then {} end", "x".repeat(200));
        let lines = wrap(Font::Bold, 24.0, text.as_bytes(), 300.0, 100);
        assert!(lines.len() > 3);
        for line in &lines {
            assert!(
                Font::Bold.width_pt(line, 24.0) <= 300.0,
                "{:?}",
                String::from_utf8_lossy(line)
            );
        }
        let joined: Vec<u8> = lines.concat();
        assert_eq!(joined.iter().filter(|b| **b == b'x').count(), 200);
    }

    #[test]
    fn wrapping_cuts_with_an_ellipsis_at_the_line_limit() {
        let text = "word ".repeat(100);
        let lines = wrap(Font::Regular, 14.0, text.as_bytes(), 200.0, 2);
        assert_eq!(lines.len(), 2);
        assert!(lines[1].ends_with(b"..."));
        assert!(Font::Regular.width_pt(&lines[1], 14.0) <= 200.0);
    }
}
