# Multi-stage build of the single kubelab binary.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o /out/kubelab ./cmd/kubelab

FROM debian:bookworm-slim
# The learner's jailed shell: bubblewrap plus the tools a lesson uses.
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      bubblewrap bash bash-completion ca-certificates curl git jq less nano vim-tiny \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/kubelab /usr/local/bin/kubelab
ADD https://dl.k8s.io/release/v1.32.4/bin/linux/amd64/kubectl /usr/local/bin/kubectl
RUN chmod 0755 /usr/local/bin/kubectl
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/kubelab"]
CMD ["serve"]
