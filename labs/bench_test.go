package labs

import (
	"io/fs"
	"os"
	"testing"
)

// benchChapters loads the chapters the render benchmarks use.
func benchChapters(b *testing.B, fsys fs.FS) *Catalog {
	b.Helper()
	cat, err := Load(fsys, Options{})
	if err != nil {
		b.Fatalf("Load: %v", err)
	}
	return cat
}

// renderAll renders every step and task of chapter ch.
func renderAll(b *testing.B, cat *Catalog, ch *Chapter) {
	for _, st := range ch.Steps {
		if _, err := cat.StepHTML(ch.ID, st.ID); err != nil {
			b.Fatal(err)
		}
	}
	for _, t := range ch.Tasks {
		if _, err := cat.TaskHTML(ch.ID, t.ID); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRenderChapter renders every step, hint and solution of a chapter:
// cold (a fresh cache each time) and cached.
func BenchmarkRenderChapter(b *testing.B) {
	sources := []struct {
		name string
		fsys fs.FS
	}{{"testdata", os.DirFS("testdata/good")}, {"bundled", Bundled()}}
	for _, src := range sources {
		b.Run(src.name, func(b *testing.B) {
			cat := benchChapters(b, src.fsys)
			for _, ch := range cat.Chapters() {
				b.Run(ch.ID+"/cold", func(b *testing.B) {
					b.ReportAllocs()
					for b.Loop() {
						renderAll(b, newCatalog(cat.fsys, cat.chapters), ch)
					}
				})
				b.Run(ch.ID+"/cached", func(b *testing.B) {
					b.ReportAllocs()
					renderAll(b, cat, ch)
					for b.Loop() {
						renderAll(b, cat, ch)
					}
				})
			}
		})
	}
}

// BenchmarkLoad measures loading and validating the chapters.
func BenchmarkLoad(b *testing.B) {
	fsys := os.DirFS("testdata/good")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(fsys, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
