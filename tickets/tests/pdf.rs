//! Printable tickets: a well-formed PDF whose text and QR code read back.

mod common;

use common::{claims, decode_grid, ring, view};
use lopdf::content::Content;
use tickets::{DEFAULT_MODULE_PX, RenderedTicket, TicketQr, TicketView, render_pdf};

const PAGE_WIDTH_PT: f32 = 595.0;
const PAGE_HEIGHT_PT: f32 = 842.0;

fn standard_code() -> String {
    ring(&[("k2", 2), ("k1", 1)]).sign(&claims(21))
}

fn text_of(pdf: &[u8]) -> String {
    let document = lopdf::Document::load_mem(pdf).expect("lopdf parses the PDF");
    assert_eq!(document.get_pages().len(), 1);
    document.extract_text(&[1]).expect("text extracts")
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack
        .windows(needle.len())
        .position(|window| window == needle)
}

/// Checks the file structure strictly (lopdf would repair a broken table silently): header,
/// `startxref` pointing at `xref`, every in-use entry 20 bytes long and pointing at its
/// `N 0 obj`, and the content stream's `/Length` matching its bytes.
fn assert_structure(pdf: &[u8]) {
    assert!(pdf.starts_with(b"%PDF-1.4\n"));
    assert!(pdf.ends_with(b"%%EOF\n"));
    let tail = String::from_utf8_lossy(&pdf[pdf.len() - 40..]).into_owned();
    let start = tail.rfind("startxref\n").expect("startxref") + "startxref\n".len();
    let xref_offset: usize = tail[start..]
        .lines()
        .next()
        .expect("offset")
        .parse()
        .expect("number");
    let table = &pdf[xref_offset..];
    assert!(
        table.starts_with(b"xref\n0 9\n"),
        "startxref does not point at the table"
    );
    let entries = &table[b"xref\n0 9\n".len()..];
    assert_eq!(&entries[..20], b"0000000000 65535 f\r\n");
    for number in 1..9 {
        let entry = &entries[number * 20..(number + 1) * 20];
        assert!(
            entry.ends_with(b" 00000 n\r\n"),
            "entry {number}: {:?}",
            String::from_utf8_lossy(entry)
        );
        let offset: usize = std::str::from_utf8(&entry[..10])
            .expect("ascii")
            .parse()
            .expect("offset");
        let header = format!("{number} 0 obj\n");
        assert!(
            pdf[offset..].starts_with(header.as_bytes()),
            "object {number} is not at {offset}"
        );
    }
    assert!(entries[9 * 20..].starts_with(b"trailer\n<< /Size 9 /Root 1 0 R /Info 8 0 R >>"));

    let length_at = find(pdf, b"/Length ").expect("/Length") + b"/Length ".len();
    let length_end = length_at
        + pdf[length_at..]
            .iter()
            .position(|b| *b == b' ')
            .expect("end");
    let length: usize = std::str::from_utf8(&pdf[length_at..length_end])
        .expect("ascii")
        .parse()
        .expect("n");
    let data_start = find(pdf, b"stream\n").expect("stream") + b"stream\n".len();
    assert_eq!(
        &pdf[data_start + length..data_start + length + 10],
        b"\nendstream"
    );
}

#[test]
fn the_pdf_is_well_formed_with_exact_cross_reference_offsets() {
    let pdf = render_pdf(&view(&standard_code())).expect("renders");
    assert_structure(&pdf);
    let document = lopdf::Document::load_mem(&pdf).expect("parses");
    let page_id = document.get_pages()[&1];
    let page = document.get_dictionary(page_id).expect("page dictionary");
    let media_box: Vec<f32> = page
        .get(b"MediaBox")
        .and_then(|b| b.as_array())
        .expect("MediaBox")
        .iter()
        .map(|n| n.as_float().expect("number"))
        .collect();
    assert_eq!(media_box, [0.0, 0.0, PAGE_WIDTH_PT, PAGE_HEIGHT_PT]);
}

#[test]
fn the_ticket_text_reads_back() {
    let code = standard_code();
    let view = view(&code);
    let text = text_of(&render_pdf(&view).expect("renders"));
    for expected in [
        "ADMIT ONE",
        "Café Tacvba – Live in Concert",
        "Palace Grounds, Bengaluru",
        "Sat 14 Mar 2026, 19:30 (UTC+05:30)",
        "Section Balcony (BALC)",
        "Row R12 · Seat 7",
        &format!("Ticket {}", view.ticket_id),
    ] {
        assert!(
            text.contains(expected),
            "{expected:?} missing from {text:?}"
        );
    }
    // The code is printed in full for manual entry, possibly over several lines.
    let squeezed: String = text.split_whitespace().collect();
    assert!(squeezed.contains(&code), "code missing from {text:?}");
}

#[test]
fn utc_show_times_say_utc() {
    let mut view = view(&standard_code());
    view.show_time = chrono::DateTime::parse_from_rfc3339("2026-07-01T09:05:00Z").expect("time");
    let text = text_of(&render_pdf(&view).expect("renders"));
    assert!(text.contains("Wed 1 Jul 2026, 09:05 UTC"), "{text:?}");
}

/// The QR block of the content stream: the module-to-page matrix and the dark rectangles.
fn qr_block(pdf: &[u8]) -> ([f32; 6], Vec<[f32; 4]>) {
    let document = lopdf::Document::load_mem(pdf).expect("parses");
    let content = document.get_page_content(document.get_pages()[&1]);
    let operations = Content::decode(&content)
        .expect("content parses")
        .operations;
    let cm = operations
        .iter()
        .position(|op| op.operator == "cm")
        .expect("one cm");
    let numbers = |op: &lopdf::content::Operation| -> Vec<f32> {
        op.operands
            .iter()
            .map(|n| n.as_float().expect("number"))
            .collect()
    };
    let matrix: [f32; 6] = numbers(&operations[cm]).try_into().expect("six numbers");
    let rectangles = operations[cm + 1..]
        .iter()
        .take_while(|op| op.operator == "re")
        .map(|op| numbers(op).try_into().expect("four numbers"))
        .collect();
    assert_eq!(
        operations[cm + 1..]
            .iter()
            .find(|op| op.operator != "re")
            .map(|op| op.operator.as_str()),
        Some("f")
    );
    (matrix, rectangles)
}

#[test]
fn the_qr_drawn_in_the_pdf_scans_back_to_the_code() {
    let code = standard_code();
    let pdf = render_pdf(&view(&code)).expect("renders");
    let (matrix, rectangles) = qr_block(&pdf);
    let qr = TicketQr::new(&code).expect("encodes");
    let side = qr.width_modules();
    let mut dark = vec![false; side * side];
    for [x, y, w, h] in rectangles {
        assert_eq!(h, 1.0);
        for dx in 0..w as usize {
            dark[y as usize * side + x as usize + dx] = true;
        }
    }
    for y in 0..side {
        for x in 0..side {
            assert_eq!(dark[y * side + x], qr.is_dark(x, y), "module ({x}, {y})");
        }
    }
    assert_eq!(
        decode_grid(side, 5, |x, y| dark[y * side + x]),
        vec![(code, 0)]
    );

    // Square modules, y flipped, and the symbol with its quiet zone on the page.
    let [a, b, c, d, e, f] = matrix;
    assert_eq!((b, c), (0.0, 0.0));
    assert!(a > 3.0 && (a + d).abs() < 1e-3, "{matrix:?}");
    let quiet = 4.0 * a;
    let (left, top) = (e - quiet, f + quiet);
    let (right, bottom) = (e + a * side as f32 + quiet, f - a * side as f32 - quiet);
    assert!(
        left > 0.0 && right < PAGE_WIDTH_PT && bottom > 60.0 && top < PAGE_HEIGHT_PT,
        "{matrix:?}"
    );
}

#[test]
fn long_and_foreign_text_stays_on_the_page() {
    let code = standard_code();
    let mut view: TicketView = view(&code);
    view.event_title = "The Extraordinarily Long Farewell World Tour of a Band Whose Name Alone \
                        Would Fill a Marquee Twice Over, Special Extended Anniversary Edition Night"
        .repeat(2);
    view.venue_name = "दंगल Stadium 東京 ".repeat(8);
    view.section_name = "Supercalifragilisticexpialidocious".repeat(4);
    let pdf = render_pdf(&view).expect("renders");
    assert_structure(&pdf);
    let text = text_of(&pdf);
    assert!(text.contains("..."), "long title is cut: {text:?}");
    assert!(text.contains("???? Stadium ??"), "{text:?}");

    let document = lopdf::Document::load_mem(&pdf).expect("parses");
    let content = document.get_page_content(document.get_pages()[&1]);
    let operations = Content::decode(&content)
        .expect("content parses")
        .operations;
    for op in operations.iter().filter(|op| op.operator == "Td") {
        let x = op.operands[0].as_float().expect("x");
        let y = op.operands[1].as_float().expect("y");
        assert!(
            (0.0..PAGE_WIDTH_PT).contains(&x) && (36.0..PAGE_HEIGHT_PT).contains(&y),
            "Td at ({x}, {y})"
        );
    }
    let (_, rectangles) = qr_block(&pdf);
    let side = TicketQr::new(&code).expect("encodes").width_modules();
    let decoded = decode_grid(side, 5, |x, y| {
        rectangles.iter().any(|[rx, ry, w, _]| {
            *ry as usize == y && (*rx as usize..(*rx + *w) as usize).contains(&x)
        })
    });
    assert_eq!(decoded, vec![(code, 0)]);
}

#[test]
fn text_that_looks_like_pdf_syntax_is_escaped() {
    let mut view = view(&standard_code());
    view.event_title = r"Tricky (title) \ with ) parens".to_owned();
    let pdf = render_pdf(&view).expect("renders");
    assert_structure(&pdf);
    assert!(text_of(&pdf).contains(r"Tricky (title) \ with ) parens"));
}

#[test]
fn rendering_is_deterministic_and_the_bundle_matches_the_parts() {
    let code = standard_code();
    let view = view(&code);
    let pdf = render_pdf(&view).expect("renders");
    assert_eq!(render_pdf(&view).expect("renders"), pdf);
    let bundle = RenderedTicket::render(&view).expect("renders");
    let qr = TicketQr::new(&code).expect("encodes");
    assert_eq!(bundle.pdf, pdf);
    assert_eq!(bundle.qr_png, qr.to_png(DEFAULT_MODULE_PX).expect("png"));
    assert_eq!(bundle.qr_svg, qr.to_svg());
    assert!(pdf.len() < 16 * 1024, "{} bytes", pdf.len());
}
