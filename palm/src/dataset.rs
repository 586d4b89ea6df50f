//! The palm dataset layout (DESIGN.md contract):
//! `DIR/<identity>/<sample>.print.<png|bmp|jpg>` and/or `DIR/<identity>/<sample>.vein.<ext>`.
