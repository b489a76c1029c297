package e2e

import (
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtime "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// trapAll exits 0 from a trap of each signal Stop may send here; any other
// signal kills it (SIGTERM's default action: exit code 143).
var trapAll = []string{"sh", "-c", `for s in USR1 USR2 HUP INT; do trap "echo got $s; exit 0" $s; done; while true; do sleep 0.1; done`}

// stopSignalImage pushes and pulls a copy of the test image whose config
// has STOPSIGNAL sig, and returns its reference.
func (e *env) stopSignalImage(tag, sig string) string {
	e.t.Helper()
	img := busyboxImage(e.t)
	img.Config.StopSignal = sig
	e.reg.Push(e.t, "e2e/stopsignal", tag, img)
	ref := e.reg.Ref("e2e/stopsignal:" + tag)
	if _, err := e.img.PullImage(e.ctx(), &runtime.PullImageRequest{Image: &runtime.ImageSpec{Image: ref}}); err != nil {
		e.t.Fatalf("pull %s: %v", ref, err)
	}
	return ref
}

// TestStopSignals: Stop sends the CRI stop_signal if set (KEP-4960), else
// the image's STOPSIGNAL, else SIGTERM; ContainerStatus reports the one in
// force; the choice is kept in the record, so it holds after a krilld
// restart even with the image gone; an image STOPSIGNAL that is no signal
// is refused at create.
func TestStopSignals(t *testing.T) {
	e := newEnv(t)
	usr2 := e.stopSignalImage("usr2", "SIGUSR2")
	hup := e.stopSignalImage("hup", "1")
	bogus := e.stopSignalImage("bogus", "SIGBOGUS")
	podID, podCfg := e.pod("stopsig")

	create := func(name, image string, sig runtime.Signal) (string, error) {
		r, err := e.rt.CreateContainer(e.ctx(), &runtime.CreateContainerRequest{
			PodSandboxId: podID, SandboxConfig: podCfg,
			Config: &runtime.ContainerConfig{
				Metadata: &runtime.ContainerMetadata{Name: name}, Image: &runtime.ImageSpec{Image: image},
				Command: trapAll, LogPath: name + ".log", StopSignal: sig,
			},
		})
		if err != nil {
			return "", err
		}
		_, err = e.rt.StartContainer(e.ctx(), &runtime.StartContainerRequest{ContainerId: r.ContainerId})
		return r.ContainerId, err
	}
	criSig := func(name string) runtime.Signal {
		return runtime.Signal(runtime.Signal_value["SIGNAL_"+name] + runtime.Signal_value[name])
	}
	cases := []struct {
		name, image string
		cri         runtime.Signal
		want        string
	}{
		{"cri-wins", usr2, criSig("SIGUSR1"), "SIGUSR1"},
		{"cri-int", e.image, criSig("SIGINT"), "SIGINT"},
		{"image-usr2", usr2, 0, "SIGUSR2"},
		{"image-numeric", hup, 0, "SIGHUP"},
		{"default", e.image, 0, "SIGTERM"},
	}
	ids := map[string]string{}
	for _, tc := range cases {
		id, err := create(tc.name, tc.image, tc.cri)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		ids[tc.name] = id
		if got := e.status(id).StopSignal; got != criSig(tc.want) {
			t.Errorf("%s: status stop_signal %v, want %s", tc.name, got, tc.want)
		}
	}
	stop := func(name string, wantCode int32) {
		t.Helper()
		if _, err := e.rt.StopContainer(e.ctx(), &runtime.StopContainerRequest{ContainerId: ids[name], Timeout: 30}); err != nil {
			t.Fatalf("stop %s: %v", name, err)
		}
		if st := e.status(ids[name]); st.State != runtime.ContainerState_CONTAINER_EXITED || st.ExitCode != wantCode {
			t.Errorf("%s: %v exit code %d, want EXITED %d (0: the trap of the right signal ran)", name, st.State, st.ExitCode, wantCode)
		}
	}
	for _, name := range []string{"cri-wins", "cri-int", "image-numeric"} {
		stop(name, 0)
	}
	stop("default", 143) // SIGTERM is not trapped

	// The signal is in the record: after a restart and with its image
	// removed, Stop still sends SIGUSR2.
	e.kill()
	e.start()
	if _, err := e.img.RemoveImage(e.ctx(), &runtime.RemoveImageRequest{Image: &runtime.ImageSpec{Image: usr2}}); err != nil {
		t.Fatal(err)
	}
	stop("image-usr2", 0)

	if _, err := create("bogus", bogus, 0); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("image STOPSIGNAL SIGBOGUS: %v, want InvalidArgument", err)
	}
	if id, err := create("bogus-cri-wins", bogus, criSig("SIGUSR1")); err != nil {
		t.Fatalf("a CRI stop signal overrides a bad image STOPSIGNAL: %v", err)
	} else if e.status(id).StopSignal != criSig("SIGUSR1") {
		t.Fatal("stop signal of bogus-cri-wins")
	}
}
