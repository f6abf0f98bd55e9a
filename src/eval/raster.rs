//! SVG → PNG with resvg, for viewers that show no SVG (a ticket, a slide, a chat). The SVG is
//! the picture; the PNG is its rendering with the machine's fonts (`make setup` installs
//! fonts-noto-cjk, so Chinese labels render).

use std::sync::Arc;

/// A renderer holding the system's fonts, loaded once (scanning them takes a moment).
pub struct Rasterizer {
    options: resvg::usvg::Options<'static>,
}

impl Default for Rasterizer {
    fn default() -> Self {
        Self::new()
    }
}

impl Rasterizer {
    pub fn new() -> Rasterizer {
        let mut fonts = resvg::usvg::fontdb::Database::new();
        fonts.load_system_fonts();
        // The charts ask for "sans-serif": the first of these the machine has (CJK first, so
        // Chinese labels render), else any face it has.
        let families: Vec<String> = fonts
            .faces()
            .flat_map(|f| f.families.iter().map(|(name, _)| name.clone()))
            .collect();
        let preferred = [
            "Noto Sans CJK SC",
            "Noto Sans CJK",
            "DejaVu Sans",
            "Liberation Sans",
        ];
        if let Some(family) = preferred
            .iter()
            .find_map(|p| families.iter().find(|f| f.starts_with(p)))
            .or(families.first())
            .cloned()
        {
            fonts.set_sans_serif_family(family);
        }
        let options = resvg::usvg::Options {
            fontdb: Arc::new(fonts),
            ..Default::default()
        };
        Rasterizer { options }
    }

    /// The PNG bytes of `svg`, at its own size.
    pub fn png(&self, svg: &str) -> Result<Vec<u8>, String> {
        let tree = resvg::usvg::Tree::from_str(svg, &self.options)
            .map_err(|e| format!("reading the SVG: {e}"))?;
        let size = tree.size().to_int_size();
        let mut pixmap =
            resvg::tiny_skia::Pixmap::new(size.width(), size.height()).ok_or("an empty picture")?;
        pixmap.fill(resvg::tiny_skia::Color::WHITE);
        resvg::render(
            &tree,
            resvg::tiny_skia::Transform::default(),
            &mut pixmap.as_mut(),
        );
        pixmap
            .encode_png()
            .map_err(|e| format!("encoding the PNG: {e}"))
    }
}
