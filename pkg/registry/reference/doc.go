// Package reference parses container image references the way the kubelet and containerd do,
// so that the rest of pullguard reasons about the same name the node will pull.
//
// Two parsers are involved on a node and both come from github.com/distribution/reference:
//
//   - The kubelet validates the image with ParseNormalizedNamed (pkg/util/parsers.ParseImageName).
//     A failure there becomes the container waiting reason InvalidImageName, which is never retried,
//     so Parse returning an *InvalidError is a certain verdict. The kubelet also uses Named.Name()
//     ("docker.io/library/nginx") to select credentials: that is Reference.Repository.
//   - containerd's CRI plugin turns the string it receives into the reference it pulls with
//     ParseDockerRef: docker.io and library/ are added, a missing tag becomes "latest", and when a
//     tag and a digest are both given only the digest is kept. That is Reference.Pull, and
//     Reference.TagIgnored flags the dropped tag, because nothing on the node ever checks it.
//
// go-containerregistry (ggcr) has its own, weaker grammar and calls Docker Hub "index.docker.io".
// Its parser must therefore only ever see Reference.Pull, through Reference.GGCR, and its names must
// never be used for credential matching. GGCR refuses digests whose algorithm ggcr cannot hash with
// an *UnsupportedDigestError, so the caller can answer "cannot verify" instead of failing.
//
// Reasons in *InvalidError are derived from the parser's sentinel errors with errors.Is. Two
// rejections in ParseNormalizedNamed carry no sentinel (a bare 64-hex identifier and an uppercase
// repository); they are recognised from the input, never from the error text.
package reference
