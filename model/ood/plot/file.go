package plot

import "os"

// WriteFile writes the panels' histograms as a PNG file at path.
func WriteFile(path string, panels []Panel) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := Histograms(f, panels); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
